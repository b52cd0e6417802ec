"""docker-compose.yml, checked without Docker.

The file is validated against the Compose specification's JSON schema (vendored in
tests/integration/compose_spec.json, from the docker-compose 1.29.2 distribution on PyPI,
Apache-2.0), and each command it runs is bound against the template in `search.stack` that the
integration test's services run, so the stack and the CI test run the same commands.
"""

from __future__ import annotations

import copy
import json
import re
import subprocess
from pathlib import Path

import jsonschema
import pytest
import yaml

from search import stack
from tests.integration import services

ROOT = Path(__file__).resolve().parents[2]
SCHEMA = ROOT / "tests" / "integration" / "compose_spec.json"
_VARIABLE = re.compile(r"\$\$|\$\{(\w+)(?:(:?[-?])([^}]*))?\}")


def read_env(path: Path) -> dict[str, str]:
    pairs = {}
    for line in path.read_text().splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            key, _, value = line.partition("=")
            pairs[key.strip()] = value.strip()
    return pairs


def interpolate(text: str, env: dict[str, str]) -> str:
    """Compose's `${VAR}`, `${VAR:-default}`, `${VAR:?error}` and `$$`, as `docker compose` does."""

    def value(match: re.Match) -> str:
        if match.group(0) == "$$":
            return "$"
        name, operator, argument = match.groups()
        if operator in (":-", "-"):
            return env.get(name) or argument
        if operator in (":?", "?") and not env.get(name):
            raise KeyError(f"{name}: {argument}")
        return env[name]

    return _VARIABLE.sub(value, text)


@pytest.fixture(scope="module")
def env() -> dict[str, str]:
    return read_env(ROOT / ".env.example")


@pytest.fixture(scope="module")
def compose(env) -> dict:
    return yaml.safe_load(interpolate((ROOT / "docker-compose.yml").read_text(), env))


@pytest.fixture(scope="module")
def validator():
    schema = json.loads(SCHEMA.read_text())
    return jsonschema.Draft201909Validator(schema)


def _errors(validator, document) -> list[str]:
    return [
        f"{'/'.join(map(str, e.absolute_path))}: {e.message}"
        for e in validator.iter_errors(document)
    ]


def test_the_compose_file_matches_the_compose_specification(compose, validator):
    assert _errors(validator, compose) == []
    assert set(compose["services"]) == {
        "postgres",
        "mlflow",
        "ray-head",
        "ray-worker",
        "ray-worker-gpu",
    }


def test_the_schema_check_rejects_a_broken_file(compose, validator):
    # Guards against a schema that accepts anything.
    broken = copy.deepcopy(compose)
    broken["services"]["mlflow"]["depends_on"]["postgres"]["condition"] = "service_ready"
    broken["services"]["ray-worker"]["restart_policy"] = "always"
    errors = _errors(validator, broken)
    assert any("service_ready" in e for e in errors), errors
    assert any("restart_policy" in e for e in errors), errors


def test_secrets_are_files_that_make_secrets_writes_and_the_example_holds(compose):
    names = set(compose["secrets"])
    assert names == {
        "postgres_password",
        "mlflow_admin_password",
        "mlflow_secret_key",
        "ray_auth_token",
    }
    for name, secret in compose["secrets"].items():
        assert secret["file"] == f"./secrets/{name}"  # SECRETS_DIR unset: `make secrets`' folder
        example = (ROOT / "secrets" / "example" / name).read_text()
        assert example.startswith("example-"), name  # what docker/entrypoint.sh refuses
    assert (
        set(re.findall(r"^SECRETS := (.*)$", (ROOT / "Makefile").read_text(), re.M)[0].split())
        == names
    )
    # Every secret a service is given is declared, and mounted where its _FILE variable points.
    for service in compose["services"].values():
        for name in service.get("secrets", []):
            assert name in names
        paths = [
            v for k, v in service.get("environment", {}).items() if k.endswith(("_FILE", "_PATH"))
        ]
        assert {p.rsplit("/", 1)[-1] for p in paths if p.startswith("/run/secrets/")} <= set(
            service.get("secrets", [])
        )


def test_mlflow_runs_the_same_server_command_as_the_ci_test(compose):
    mlflow = compose["services"]["mlflow"]
    values = stack.bind(stack.MLFLOW_SERVER, mlflow["command"])
    # No password in the URI (so none on the command line): libpq reads PGPASSWORD.
    assert values["backend_store_uri"] == "postgresql+psycopg://mlflow@postgres:5432/mlflow"
    assert mlflow["environment"]["PGPASSWORD_FILE"] == "/run/secrets/postgres_password"
    assert mlflow["environment"]["MLFLOW_AUTH_DATABASE_URI"] == values["backend_store_uri"]
    assert "mlflow" in mlflow["build"]["target"] and "tensorflow" not in _dockerfile_stage("mlflow")
    assert f"mlflow-artifacts:{values['artifacts_destination']}" in mlflow["volumes"]
    assert mlflow["ports"] == [f"127.0.0.1:5000:{values['port']}"]
    assert f"mlflow:{values['port']}" in values["allowed_hosts"].split(",")
    probe = stack.render(
        stack.HTTP_PROBE, url=f"http://localhost:{values['port']}{stack.MLFLOW_HEALTH_PATH}"
    )
    assert mlflow["healthcheck"]["test"] == ["CMD", *probe]
    # The CI test's server: the same template, other values.
    local = services.mlflow_argv("postgresql+psycopg://u@127.0.0.1:5/db", Path("/tmp/a"), 5001)
    assert stack.bind(stack.MLFLOW_SERVER, ["mlflow", *local[1:]])["port"] == "5001"


def test_ray_nodes_run_the_same_start_commands_as_the_ci_test(compose):
    head, worker = compose["services"]["ray-head"], compose["services"]["ray-worker"]
    head_values = stack.bind(stack.RAY_HEAD, head["command"])
    worker_values = stack.bind(stack.RAY_WORKER, worker["command"])
    assert worker_values["head_address"] == f"ray-head:{head_values['gcs_port']}"
    assert head["ports"] == [f"127.0.0.1:8265:{head_values['dashboard_port']}"]
    probe = stack.render(
        stack.HTTP_PROBE,
        url=f"http://localhost:{head_values['dashboard_port']}{stack.RAY_DASHBOARD_HEALTH_PATH}",
    )
    assert head["healthcheck"]["test"] == ["CMD", *probe]
    probe = stack.render(
        stack.HTTP_PROBE,
        url=f"http://localhost:{worker_values['agent_listen_port']}{stack.RAY_NODE_HEALTH_PATH}",
    )
    assert worker["healthcheck"]["test"] == ["CMD", *probe]
    gpu = compose["services"]["ray-worker-gpu"]
    gpu_values = stack.bind(stack.RAY_GPU_WORKER, gpu["command"])
    assert gpu_values["head_address"] == worker_values["head_address"]
    (device,) = gpu["deploy"]["resources"]["reservations"]["devices"]
    assert device["capabilities"] == ["gpu"] and str(device["count"]) == gpu_values["num_gpus"]
    assert gpu["profiles"] == ["gpu"] and gpu["build"]["args"] == {"GPU": "1"}
    for template in (stack.RAY_HEAD, stack.RAY_WORKER):
        local = services.ray_argv(template, temp_dir="/tmp/x", num_cpus=1, gcs_port=1, dashboard_host="h",
                                  dashboard_port=2, client_port=3, head_address="127.0.0.1:1")  # fmt: skip
        stack.bind(template, ["ray", *local[1:]])


def test_start_order_waits_for_health(compose):
    services_ = compose["services"]
    order = {"mlflow": "postgres", "ray-head": "mlflow", "ray-worker": "ray-head"}
    for service, dependency in order.items():
        assert services_[service]["depends_on"] == {dependency: {"condition": "service_healthy"}}
        assert "test" in services_[dependency]["healthcheck"]


def test_postgres_is_private_and_keeps_its_data_on_a_named_volume(compose):
    postgres = compose["services"]["postgres"]
    assert "ports" not in postgres and "expose" not in postgres
    assert "postgres-data:/var/lib/postgresql/data" in postgres["volumes"]
    assert "postgres-data" in compose["volumes"]


def test_no_secret_is_in_the_compose_file_or_the_env_file(env):
    text = (ROOT / "docker-compose.yml").read_text()
    for secret in (ROOT / "secrets" / "example").iterdir():
        assert secret.read_text() not in text and secret.read_text() not in str(env)
    assert not any("PASSWORD" in k or "TOKEN" in k for k in env), env
    ignored = (ROOT / ".gitignore").read_text().splitlines()
    assert ".env" in ignored and "/secrets/*" in ignored and "!/secrets/example/" in ignored


def test_workers_scale_and_share_the_results_volume(compose, env):
    head, worker = compose["services"]["ray-head"], compose["services"]["ray-worker"]
    assert "container_name" not in worker and "ports" not in worker
    assert (
        "ray-results:/ray_results" in head["volumes"]
        and "ray-results:/ray_results" in worker["volumes"]
    )
    for node in (head, worker):
        assert node["environment"]["MLFLOW_TRACKING_URI"] == "http://mlflow:5000"
        assert node["environment"]["RAY_ADDRESS"] == "http://ray-head:8265"
        # Token authentication on, in the stack and in the CI test's cluster alike.
        assert (
            node["environment"]["RAY_AUTH_MODE"]
            == services._ray_env("t", None)["RAY_AUTH_MODE"]
            == "token"
        )
        assert node["environment"]["RAY_AUTH_TOKEN_PATH"] == "/run/secrets/ray_auth_token"
        assert (
            node["environment"]["MLFLOW_TRACKING_PASSWORD_FILE"]
            == "/run/secrets/mlflow_admin_password"
        )
        assert node["build"] == {"context": ".", "target": "train"}
        assert "/tmp/ray" in node["volumes"]  # Ray's temp dir on a volume of its own


def _dockerfile_stage(target: str) -> str:
    """The lines of one build stage of the Dockerfile, up to the next FROM."""
    text = (ROOT / "Dockerfile").read_text()
    return re.search(rf"^FROM \S+ AS {target}\n(.*?)(?=^FROM |\Z)", text, re.M | re.S).group(1)


def test_images_are_pinned_versioned_and_install_locked_dependencies_first(compose):
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert [line for line in dockerfile.splitlines() if line.startswith("FROM ")] == [
        "FROM python:3.11.13-slim-bookworm AS base",
        "FROM base AS mlflow",
        "FROM base AS train",
    ]
    assert compose["services"]["postgres"]["image"] == "postgres:16.9-bookworm"
    version = re.search(r'^version = "(.+)"$', (ROOT / "pyproject.toml").read_text(), re.M).group(1)
    for name, service in compose["services"].items():
        if "build" in service:
            assert service["image"].endswith(f":{version}"), name
        assert service["init"] is True and service["logging"]["driver"] == "json-file", name
        assert {"cpus", "memory"} <= set(service["deploy"]["resources"]["limits"]), name
        assert "pip" not in " ".join(map(str, service.get("command", [])))
    train = _dockerfile_stage("train")
    # The locked dependencies before the source: a code edit does not reinstall TensorFlow.
    assert train.index("pip install --no-deps -r /tmp/train.lock") < train.index("COPY cells")
    assert "RUN pip install --no-deps ." in train
    assert "pip install --no-deps -r /tmp/server.lock" in _dockerfile_stage("mlflow")
    for lock in ("train.lock", "server.lock"):
        lines = (ROOT / "docker" / "requirements" / lock).read_text().splitlines()[1:]
        assert lines and all(re.fullmatch(r"[a-z0-9._-]+==\S+", line) for line in lines), lock
    # TensorFlow is an extra (`tensorflow`, beside `jax`); the training image is built on it.
    assert "\ntensorflow==" in (ROOT / "docker" / "requirements" / "train.lock").read_text()
    server_lock = (ROOT / "docker" / "requirements" / "server.lock").read_text()
    assert (
        "tensorflow" not in server_lock
        and "flask-wtf==" in server_lock
        and "psycopg==" in server_lock
    )


def _entrypoint(tmp_path, secret: str, **env: str) -> subprocess.CompletedProcess:
    (tmp_path / "secret").write_text(secret)
    variables = {"PATH": "/usr/bin:/bin", "PGPASSWORD_FILE": str(tmp_path / "secret"), **env}
    return subprocess.run(["sh", str(ROOT / "docker" / "entrypoint.sh"), "sh", "-c",
                           'echo "$PGPASSWORD|${PGPASSWORD_FILE:-}"'],
                          env=variables, capture_output=True, text=True)  # fmt: skip


def test_the_entrypoint_refuses_the_example_secrets_unless_dev(tmp_path):
    refused = _entrypoint(tmp_path, "example-known")
    assert refused.returncode == 64
    assert "is the committed example secret; run `make secrets`" in refused.stderr
    assert "DEV=1" in refused.stderr
    assert _entrypoint(tmp_path, "example-known", DEV="1").stdout == "example-known|\n"
    # A real secret reaches the program as the variable; its _FILE is not passed on.
    assert _entrypoint(tmp_path, "s3cret").stdout == "s3cret|\n"


def test_the_entrypoint_names_a_missing_secret_file(tmp_path):
    missing = _entrypoint(tmp_path, "s3cret", MLFLOW_TRACKING_PASSWORD_FILE=str(tmp_path / "no"))
    assert missing.returncode == 64
    assert f"MLFLOW_TRACKING_PASSWORD_FILE names {tmp_path / 'no'}, which cannot be read" in (
        missing.stderr
    )


def test_the_entrypoint_writes_the_auth_config_the_ci_test_uses(tmp_path):
    uri = "postgresql+psycopg://mlflow@postgres:5432/mlflow"
    done = subprocess.run(["sh", str(ROOT / "docker" / "entrypoint.sh"), "sh", "-c",
                           'cat "$MLFLOW_AUTH_CONFIG_PATH"'], capture_output=True, text=True,
                          env={"PATH": "/usr/bin:/bin", "MLFLOW_AUTH_DATABASE_URI": uri,
                               "MLFLOW_AUTH_CONFIG_PATH": str(tmp_path / "auth.ini")})  # fmt: skip
    assert done.stdout == stack.auth_config(uri)
