"""Without a Keras backend installed the CLI says what to install, in one sentence, not a traceback."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from search.cli import USER_ERROR_EXIT, missing_backend

ROOT = Path(__file__).resolve().parents[2]
# The CLI in a process where importing the listed modules fails as if they were not installed.
WITHOUT = """
import sys
for name in sys.argv[1].split(","):
    sys.modules[name] = None
from search.cli import main
sys.exit(main(sys.argv[2:]))
"""


def _cli_without(modules: str, tmp_path, **env: str) -> subprocess.CompletedProcess:
    spec = tmp_path / "spec.yaml"
    spec.write_text("name: nb\ndata: {source: 'aeon:UnitTest', task: classification}\n")
    variables = {k: v for k, v in os.environ.items() if k != "KERAS_BACKEND"}
    variables |= {"PYTHONPATH": str(ROOT), "KERAS_HOME": str(tmp_path), **env}
    return subprocess.run(
        [sys.executable, "-c", WITHOUT, modules, "run", str(spec)],
        cwd=tmp_path,
        env=variables,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_neither_backend_installed_says_which_extra_to_install(tmp_path):
    done = _cli_without("tensorflow,jax", tmp_path)
    assert done.returncode == USER_ERROR_EXIT, done.stderr[-2000:]
    assert done.stderr.strip().splitlines() == [
        "error: Keras needs a backend and neither TensorFlow nor JAX is installed; install "
        "gru-search[tensorflow] or gru-search[jax]."
    ]
    assert not (tmp_path / "mlflow.db").exists()


def test_a_named_backend_that_is_not_installed_is_named(tmp_path):
    done = _cli_without("jax", tmp_path, KERAS_BACKEND="jax")
    assert done.returncode == USER_ERROR_EXIT, done.stderr[-2000:]
    assert done.stderr.strip().splitlines() == [
        "error: Keras is set to the 'jax' backend (KERAS_BACKEND or ~/.keras/keras.json), which "
        "is not installed; install gru-search[jax] or name an installed backend."
    ]


@pytest.mark.parametrize("name", ["yaml", "tensorflow_probability", "jax.experimental.sparse"])
def test_other_missing_modules_are_not_mistaken_for_a_backend(name):
    # tensorflow and jax are installed here: a missing submodule of one is a bug, not a backend.
    assert missing_backend(ModuleNotFoundError(f"No module named {name!r}", name=name)) is None
