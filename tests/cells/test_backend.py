"""cells.backend: JAX where TensorFlow is not installed, a model's training backend for its loader,
and whatever the user named, untouched."""

from __future__ import annotations

import json
import os
import sys

import pytest

from cells.backend import BACKEND_ENV, choose_backend, installed


@pytest.fixture
def fresh(monkeypatch, tmp_path):
    """As before Keras is imported, with Keras' config file naming TensorFlow (what Keras writes
    there on its first import) and both backends installed; `missing(name)` uninstalls one."""
    monkeypatch.delitem(sys.modules, "keras", raising=False)
    # Set first so the teardown restores it (delenv alone forgets a variable that was unset, and
    # the one choose_backend sets would outlive the test).
    monkeypatch.setenv(BACKEND_ENV, "")
    monkeypatch.delenv(BACKEND_ENV)
    monkeypatch.setenv("KERAS_HOME", str(tmp_path))
    (tmp_path / "keras.json").write_text(json.dumps({"backend": "tensorflow"}))
    for name in ("tensorflow", "jax"):
        if not installed(name):
            pytest.skip(f"{name} is not installed here")  # the main venv has both

    def missing(*names: str) -> None:
        for name in names:
            monkeypatch.setitem(sys.modules, name, None)

    return missing


def test_jax_where_tensorflow_is_not_installed(fresh):
    fresh("tensorflow")
    assert choose_backend() == "jax"
    assert os.environ[BACKEND_ENV] == "jax"


def test_keras_default_stands_where_tensorflow_is_installed(fresh):
    assert choose_backend() is None and BACKEND_ENV not in os.environ


def test_a_models_training_backend_wins_over_the_config_file(fresh):
    assert choose_backend("jax") == "jax"


def test_a_training_backend_that_is_not_installed_gives_way(fresh):
    fresh("jax")
    assert choose_backend("jax") is None  # Keras' default, TensorFlow, is installed


def test_the_users_choice_is_never_changed(fresh, monkeypatch):
    fresh("tensorflow")
    monkeypatch.setenv(BACKEND_ENV, "tensorflow")
    assert choose_backend("jax") is None and os.environ[BACKEND_ENV] == "tensorflow"


def test_nothing_is_set_once_keras_is_imported(fresh, monkeypatch):
    fresh("tensorflow")
    monkeypatch.setitem(sys.modules, "keras", object())
    assert choose_backend() is None


def test_nothing_is_set_where_no_backend_is_installed(fresh):
    fresh("tensorflow", "jax")
    assert choose_backend() is None
