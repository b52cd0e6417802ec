"""Security: no code runs on load (models in safe mode, specs with a safe YAML loader), specs sent
to a cluster cannot reach outside their folder, and the compose stack exposes only what a user needs."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
import yaml

from search import cli, staging
from search.errors import GruSearchError, SpecError

pytestmark = pytest.mark.reliability

ROOT = Path(__file__).resolve().parents[2]


def _lambda_model(path: Path, marker: Path) -> Path:
    """A .keras file whose Lambda layer would create `marker` when the model is loaded and run."""
    import keras

    # A lambda is stored as Python bytecode in the file: exactly what safe mode must refuse.
    payload = eval(f"lambda x: x + 0 * __import__('os').system('touch {marker}')")  # noqa: S307
    inputs = keras.Input((4, 2))
    outputs = keras.layers.Dense(1)(keras.layers.Lambda(payload)(keras.layers.Flatten()(inputs)))
    keras.Model(inputs, outputs).save(path)
    marker.unlink()  # building the model ran the payload once; loading must not run it again
    return path


@pytest.fixture
def evil(tmp_path):
    return _lambda_model(tmp_path / "evil.keras", tmp_path / "ran"), tmp_path / "ran"


@pytest.mark.slow
def test_load_model_refuses_a_lambda_layer(evil):
    import search

    path, marker = evil
    with pytest.raises(GruSearchError, match="Refusing to load the model .*Lambda layer"):
        search.load_model(str(path))
    assert not marker.exists()


@pytest.mark.slow
def test_pull_refuses_a_registered_model_with_a_lambda_layer(evil, tmp_path, capsys):
    import search
    from search import packaging
    from search.tracking import Tracker

    path, marker = evil
    uri = f"sqlite:///{tmp_path}/mlflow.db"
    tracker = Tracker(uri)
    experiment = tracker.ensure_experiment("evil")
    run = tracker.start_search(experiment, "evil", {}, "{}")
    model_dir = packaging.package(
        str(path), {"search": "evil"}, str(tmp_path / "model"), input_shape=(4, 2)
    )
    tracker.register("evil", tracker.log_model(run, model_dir), run, {})
    out = tmp_path / "pulled"
    code = cli.main(["pull", "evil/1", "-o", str(out), "--tracking-uri", uri])
    err = capsys.readouterr().err
    assert code == 2
    last = err.strip().splitlines()[-1]  # MLflow logs its store creation above
    assert (
        last.startswith("error: Refusing to load the model evil/1: it holds Python code")
        and "Traceback" not in err
    )
    assert not (out / "model.keras").exists()
    with pytest.raises(GruSearchError, match="Refusing to load"):
        search.load_model("models:/evil/1", tracking_uri=uri)
    assert not marker.exists()


def test_specs_are_read_with_a_safe_loader(tmp_path):
    from search.spec import load_spec

    spec = tmp_path / "spec.yaml"
    spec.write_text(f"name: !!python/object/apply:os.system ['touch {tmp_path / 'ran'}']\n")
    for read in (load_spec, staging.read_mapping):
        with pytest.raises(SpecError):
            read(spec)
    assert not (tmp_path / "ran").exists()


@pytest.mark.parametrize(
    "results_dir", ["/etc/gru", "../../outside", "results/../../outside", "~/elsewhere"]
)
def test_launched_specs_cannot_leave_their_folder(tmp_path, results_dir):
    spec = tmp_path / "spec.yaml"
    spec.write_text(
        yaml.safe_dump(
            {"name": "s", "data": {"source": "aeon:UnitTest"}, "results_dir": results_dir}
        )
    )
    with pytest.raises(SpecError, match="leaves the job's folder on the cluster"):
        staging.stage(spec)


def test_launched_specs_keep_paths_inside_and_take_an_operator_folder(tmp_path):
    import shutil

    spec = tmp_path / "spec.yaml"
    (tmp_path / "d.csv").write_text("sequence_id,time,f0,label\n")
    spec.write_text(
        yaml.safe_dump(
            {
                "name": "s",
                "data": {"source": "../" + tmp_path.name + "/d.csv"},
                "results_dir": "results/s",
            }
        )
    )
    folder = staging.stage(spec)
    try:
        staged = yaml.safe_load((folder / staging.STAGED_SPEC).read_text())
        assert staged["data"]["source"] == "data/d.csv" and staged["results_dir"] == "results/s"
    finally:
        shutil.rmtree(folder)
    folder = staging.stage(
        spec, results_dir="/ray_results"
    )  # --results-dir: the operator's shared folder
    try:
        assert (
            yaml.safe_load((folder / staging.STAGED_SPEC).read_text())["results_dir"]
            == "/ray_results"
        )
    finally:
        shutil.rmtree(folder)


def test_compose_publishes_only_the_ui_and_job_ports_on_loopback():
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    published = {name: service.get("ports", []) for name, service in compose["services"].items()}
    assert published["postgres"] == []
    assert published["ray-worker"] == [] and published["ray-worker-gpu"] == []
    # 10001 (the Ray client) is not published: `launch` uses the job API, never ray://.
    assert published["mlflow"] == ["${PUBLISH_ADDRESS:-127.0.0.1}:${MLFLOW_PORT:-5000}:5000"]
    assert published["ray-head"] == [
        "${PUBLISH_ADDRESS:-127.0.0.1}:${RAY_DASHBOARD_PORT:-8265}:8265"
    ]


def test_compose_secrets_are_files_and_only_the_example_ones_are_committed():
    text = (ROOT / "docker-compose.yml").read_text()
    compose = yaml.safe_load(text)
    # No secret in an environment value or on a command line: only paths under /run/secrets.
    for name, service in compose["services"].items():
        for key, value in service.get("environment", {}).items():
            if any(word in key for word in ("PASSWORD", "TOKEN", "SECRET")):
                assert key.endswith(("_FILE", "_PATH")) and value.startswith("/run/secrets/"), (
                    name,
                    key,
                )
        assert "/run/secrets" not in " ".join(map(str, service.get("command", []))), name
    # MLflow's basic authentication is on.
    assert compose["services"]["mlflow"]["command"][-2:] == ["--app-name", "basic-auth"]
    tracked = subprocess.run(
        ["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout.split()
    assert ".env.example" in tracked and ".env" not in tracked
    committed_secrets = sorted(path for path in tracked if path.startswith("secrets/"))
    assert committed_secrets and all(
        path.startswith("secrets/example/") for path in committed_secrets
    )
    for path in committed_secrets:
        assert (ROOT / path).read_text().startswith("example-"), path  # refused unless DEV=1
