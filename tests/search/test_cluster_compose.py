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
    assert set(compose["services"]) == {"postgres", "mlflow", "ray-head", "ray-worker"}


def test_the_schema_check_rejects_a_broken_file(compose, validator):
    # Guards against a schema that accepts anything.
    broken = copy.deepcopy(compose)
    broken["services"]["mlflow"]["depends_on"]["postgres"]["condition"] = "service_ready"
    broken["services"]["ray-worker"]["restart_policy"] = "always"
    errors = _errors(validator, broken)
    assert any("service_ready" in e for e in errors), errors
    assert any("restart_policy" in e for e in errors), errors


def test_a_missing_password_is_refused_before_anything_starts(env):
    without = {k: v for k, v in env.items() if k != "POSTGRES_PASSWORD"}
    with pytest.raises(KeyError, match="set POSTGRES_PASSWORD in .env"):
        interpolate((ROOT / "docker-compose.yml").read_text(), without)


def test_mlflow_runs_the_same_server_command_as_the_ci_test(compose):
    mlflow = compose["services"]["mlflow"]
    values = stack.bind(stack.MLFLOW_SERVER, mlflow["command"])
    assert re.fullmatch(
        r"postgresql\+psycopg://mlflow:[^@]+@postgres:5432/mlflow", values["backend_store_uri"]
    )
    assert f"mlflow-artifacts:{values['artifacts_destination']}" in mlflow["volumes"]
    assert mlflow["ports"] == [f"5000:{values['port']}"]
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
    assert f"8265:{head_values['dashboard_port']}" in head["ports"]
    assert f"10001:{head_values['client_port']}" in head["ports"]
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


def test_credentials_come_only_from_the_env_file(env):
    text = (ROOT / "docker-compose.yml").read_text()
    assert env["POSTGRES_PASSWORD"] not in text and env["RAY_AUTH_TOKEN"] not in text
    assert ".env" in (ROOT / ".gitignore").read_text().splitlines()


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
        assert node["environment"]["RAY_AUTH_TOKEN"] == env["RAY_AUTH_TOKEN"]
        assert node["build"] == "." and node["image"] == compose["services"]["mlflow"]["image"]


def test_one_image_installs_the_project_at_build_time(compose):
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert [line for line in dockerfile.splitlines() if line.startswith("FROM ")] == [
        "FROM python:3.11-slim"
    ]
    assert "RUN pip install ." in dockerfile
    for service in compose["services"].values():
        assert "pip" not in " ".join(map(str, service.get("command", [])))
