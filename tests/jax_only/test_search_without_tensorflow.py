"""What `pip install 'gru-search[jax]'` gives: a whole search, the registry, pull and serving on
JAX, where TensorFlow is not installed.

Runs in .venv-jax (`make test-jax`, part of `make test`); the main run leaves this folder out
(pyproject's `norecursedirs`), since TensorFlow is installed there. Each step is the CLI or a fresh
process, as a user runs them, with Keras' config file naming TensorFlow (what Keras writes there
on its first import), so the backend is chosen by gru-search, not by luck.
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = [pytest.mark.integration, pytest.mark.slow]

NAME = "jax-only"
SPEC = f"""\
name: {NAME}
data: {{source: "aeon:UnitTest", task: classification}}
space: {{cell: [gru, minimal], units: [8]}}
search:
  algorithm: random
  scheduler: fifo
  max_trials: 2
  max_epochs: 2
  concurrency: 2
  resources_per_trial: {{cpu: 1, gpu: 0}}
  objective: {{metric: val_accuracy, mode: max}}
  seed: 0
  ensemble: 1
  refit: false
  folds: 1
tracking:
  uri: sqlite:///mlflow.db
ray:
  address: local
  num_cpus: 2
"""
CLI = str(Path(sys.executable).with_name("gru-search"))


def _env(folder: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("KERAS_BACKEND", "PYTHONPATH")}
    (folder / "keras.json").write_text(json.dumps({"backend": "tensorflow"}))
    return env | {"KERAS_HOME": str(folder), **extra}


def _run(args, folder: Path, **extra: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        args, cwd=folder, env=_env(folder, **extra), capture_output=True, text=True, timeout=600
    )


def test_tensorflow_is_not_installed_here():
    assert importlib.util.find_spec("tensorflow") is None
    with pytest.raises(ModuleNotFoundError):
        import tensorflow  # noqa: F401


@pytest.fixture(scope="module")
def searched(tmp_path_factory):
    folder = tmp_path_factory.mktemp("search")
    (folder / "spec.yaml").write_text(SPEC)
    done = _run([CLI, "run", "spec.yaml"], folder, KERAS_BACKEND="jax")
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-3000:]
    return folder, done


def test_the_search_registers_a_model_that_runs_on_jax(searched):
    from mlflow import MlflowClient
    from mlflow.artifacts import download_artifacts

    folder, done = searched
    assert "registered: models:/jax-only/1" in done.stdout
    log = (folder / "results" / NAME / "search.log").read_text()
    assert "TensorFlow is not installed, so no SavedModel is exported" in log
    uri = f"sqlite:///{folder / 'mlflow.db'}"
    client = MlflowClient(uri, registry_uri=uri)
    version = client.get_model_version_by_alias(NAME, "champion")
    model_dir = Path(
        download_artifacts(
            artifact_uri=version.source, dst_path=str(folder / "registered"), tracking_uri=uri
        )
    )
    requirements = (model_dir / "requirements.txt").read_text().split()
    assert {r.partition("==")[0] for r in requirements} >= {"jax", "jaxlib", "keras"}
    assert all("==" in r for r in requirements)
    assert not any(r.startswith("tensorflow") for r in requirements)
    assert not list(model_dir.rglob("savedmodel"))
    metadata = json.loads(next(model_dir.rglob("metadata.json")).read_text())
    assert metadata["keras_backend"] == "jax"


# A fresh process naming no backend: the pulled folder through gru-search, and the registered
# version through MLflow's loader (cells.serving), give the same predictions.
PREDICT = r"""
import json, sys
import mlflow.pyfunc
import numpy as np
from search.data import prepare
from search.spec import parse_spec
spec = parse_spec({"name": "p", "data": {"source": "aeon:UnitTest", "task": "classification"}}, ".")
x = prepare(spec.data, 0).x_test
served = mlflow.pyfunc.load_model(sys.argv[2]).predict(x.astype("float64"))  # its signature
import keras
import search
probabilities = search.load_model(sys.argv[1]).predict(x, verbose=0)
print(json.dumps({"backend": keras.backend.backend(), "cases": len(x),
                  "keras": probabilities.tolist(),
                  "pyfunc": served.drop(columns="label").to_numpy().tolist()}))
"""


def test_the_pulled_model_predicts_in_a_fresh_process(searched):
    import numpy as np

    folder, _ = searched
    uri = f"sqlite:///{folder / 'mlflow.db'}"
    pulled = _run([CLI, "pull", f"{NAME}@champion", "-o", "pulled", "--tracking-uri", uri], folder)
    assert pulled.returncode == 0, pulled.stderr[-3000:]
    assert (folder / "pulled" / "model.keras").is_file()
    done = _run(
        [sys.executable, "-c", PREDICT, "pulled", f"models:/{NAME}@champion"],
        folder,
        MLFLOW_TRACKING_URI=uri,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    out = json.loads(done.stdout.strip().splitlines()[-1])
    assert out["backend"] == "jax"
    probabilities = np.asarray(out["keras"])
    assert probabilities.shape == (out["cases"], 2) and out["cases"] > 0
    np.testing.assert_allclose(probabilities.sum(axis=1), 1.0, rtol=1e-5)
    np.testing.assert_allclose(out["pyfunc"], probabilities, rtol=1e-5, atol=1e-6)


def test_pull_as_savedmodel_says_there_is_none(searched):
    folder, _ = searched
    uri = f"sqlite:///{folder / 'mlflow.db'}"
    done = _run(
        [CLI, "pull", f"{NAME}@champion", "-o", "saved", "--format", "savedmodel"]
        + ["--tracking-uri", uri],
        folder,
    )
    assert done.returncode == 2
    assert done.stderr.strip().splitlines()[-1] == (
        "error: This model has no SavedModel and TensorFlow, which would export one, is not "
        "installed here; pull --format keras, or install gru-search[tensorflow] and pull again."
    )
    assert not (folder / "saved").exists()  # the failed pull left no empty folder
