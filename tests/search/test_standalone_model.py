"""The registered model folder stands alone: it carries `cells`, pins real libraries, says what
goes in and out, and holds a SavedModel that plain TensorFlow runs.

Before, MLmodel named `loader_module: search.registry` with `code: null` and pinned
`gru-search==0.1.0`, a package published nowhere: `mlflow models serve --env-manager
virtualenv` and `build-docker` could not build its environment, and plain
`keras.saving.load_model` failed with "Could not locate class 'NanPaddingStandardization'".
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from tests.search.packaged import (
    CLASSES,
    FEATURES,
    classifier,
    classifier_metadata,
    package_classifier,
    padded_cases,
)

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def packaged(tmp_path_factory):
    folder = tmp_path_factory.mktemp("packaged")
    model, model_dir = package_classifier(folder)
    x = padded_cases()
    return model, model_dir, x, model.predict(x.astype("float32"), verbose=0)


def test_requirements_pin_the_libraries_and_the_code_travels_in_the_folder(packaged):
    from importlib.metadata import version

    from mlflow.models import Model

    _, model_dir, _, _ = packaged
    requirements = (model_dir / "requirements.txt").read_text().split()
    for name in ("tensorflow", "keras", "numpy"):
        assert f"{name}=={version(name)}" in requirements
    assert not any(r.startswith("gru-search") for r in requirements)
    flavor = Model.load(str(model_dir)).flavors["python_function"]
    assert flavor["code"] == "code" and flavor["loader_module"] == "cells.serving"
    assert (model_dir / "code" / "cells" / "serving.py").is_file()
    assert not list((model_dir / "code").rglob("__pycache__"))


def test_mlmodel_metadata_says_classes_input_layout_features_and_objective(packaged):
    from mlflow.models import Model

    _, model_dir, _, _ = packaged
    model = Model.load(str(model_dir))
    card = model.metadata
    assert card["classes"] == CLASSES and card["feature_names"] == FEATURES
    assert card["task"] == "classification"
    assert (
        card["input"]["layout"].startswith("(batch, steps, features)")
        and "NaN is padding" in card["input"]["layout"]
    )
    assert card["objective"] == {"metric": "val_accuracy", "mode": "max", "value": 0.75}
    assert card["outputs"] == ["label", *(f"probability_{c}" for c in CLASSES)]
    assert model.signature.outputs.input_names() == card["outputs"]
    assert str(model.signature.inputs.inputs[0].type) == "float64"


# Runs in a process where gru-search's own `search` and `cells` cannot be imported: only a
# `cells` that lives inside an MLflow model folder (one with an MLmodel file above it) can.
FRESH = r"""
import json, sys
from importlib.machinery import PathFinder
from pathlib import Path

import numpy as np

model_dir, x_file = Path(sys.argv[1]), sys.argv[2]

def in_model_folder(origin):
    return origin is not None and any((p / "MLmodel").is_file() for p in Path(origin).parents)

class Blocker:
    def find_spec(self, name, path=None, target=None):
        if name.partition(".")[0] not in ("cells", "search"):
            return None
        for finder in sys.meta_path:
            if finder is self or not hasattr(finder, "find_spec"):
                continue
            spec = finder.find_spec(name, path, target)
            if spec is not None:
                break
        if spec is None or not in_model_folder(spec.origin):
            raise ModuleNotFoundError(f"blocked: {name} from {spec and spec.origin}", name=name)
        return spec

sys.meta_path.insert(0, Blocker())
for name in ("search", "cells"):
    try:
        __import__(name)
        raise SystemExit(f"{name} was importable")
    except ModuleNotFoundError:
        pass

x = np.load(x_file)
out = {}
import tensorflow as tf
served = tf.saved_model.load(str(model_dir / "savedmodel"))
out["savedmodel"] = served.serve(tf.constant(x, tf.float32)).numpy().tolist()
assert "cells" not in sys.modules

import mlflow.pyfunc
frame = mlflow.pyfunc.load_model(str(model_dir)).predict(x)  # float64, as NumPy makes it
out["pyfunc_labels"] = frame["label"].tolist()
out["pyfunc"] = frame.drop(columns="label").to_numpy().tolist()
out["pyfunc_columns"] = list(frame.columns)
out["cells_from"] = sys.modules["cells"].__file__

# Plain Keras, after importing only the shipped code.
sys.modules.pop("cells", None)
for name in [m for m in sys.modules if m.startswith("cells.")]:
    sys.modules.pop(name)
sys.path.insert(0, str(model_dir / "code"))
import cells
import keras
cells.register_all()
model = keras.saving.load_model(model_dir / "data" / "keras" / "model.keras")
out["keras"] = model.predict(x.astype("float32"), verbose=0).tolist()
print(json.dumps(out))
"""


def test_the_folder_loads_where_gru_search_cannot_be_imported(packaged, tmp_path):
    _, model_dir, x, expected = packaged
    np.save(tmp_path / "x.npy", x)
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"} | {"TF_CPP_MIN_LOG_LEVEL": "3"}
    out = _fresh_process(FRESH, model_dir, tmp_path, env)
    assert Path(out["cells_from"]).is_relative_to(model_dir / "code")
    assert out["pyfunc_columns"] == ["label", *(f"probability_{c}" for c in CLASSES)]
    assert out["pyfunc_labels"] == [CLASSES[i] for i in expected.argmax(axis=1)]
    for key in ("pyfunc", "keras", "savedmodel"):
        np.testing.assert_allclose(out[key], expected, rtol=1e-6, atol=1e-6, err_msg=key)


def test_the_savedmodel_matches_the_keras_model_on_padded_input(packaged):
    import tensorflow as tf

    _, model_dir, x, expected = packaged
    served = tf.saved_model.load(str(model_dir / "savedmodel"))
    np.testing.assert_array_equal(served.serve(tf.constant(x, tf.float32)).numpy(), expected)


def test_a_model_trained_on_jax_pins_jax_not_tensorflow():
    from importlib.metadata import version

    from search.packaging import pip_requirements

    requirements = pip_requirements("jax")
    assert requirements[:2] == [f"jax=={version('jax')}", f"jaxlib=={version('jaxlib')}"]
    assert not any(r.startswith("tensorflow") for r in requirements)
    assert f"keras=={version('keras')}" in requirements


# MLflow's loader in a process that names no backend; the folder says it was trained on JAX.
ON_ITS_BACKEND = r"""
import json, sys
import numpy as np
import mlflow.pyfunc
frame = mlflow.pyfunc.load_model(sys.argv[1]).predict(np.load(sys.argv[2]))
import keras
print(json.dumps({"backend": keras.backend.backend(),
                  "pyfunc": frame.drop(columns="label").to_numpy().tolist()}))
"""


def test_the_loader_runs_keras_on_the_backend_the_model_was_trained_with(packaged, tmp_path):
    import shutil

    _, model_dir, x, expected = packaged
    folder = tmp_path / "model"
    shutil.copytree(model_dir, folder)
    metadata_file = folder / "data" / "keras" / "metadata.json"
    metadata = json.loads(metadata_file.read_text())
    metadata_file.write_text(json.dumps({**metadata, "keras_backend": "jax"}))
    np.save(tmp_path / "x.npy", x)
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "KERAS_BACKEND")}
    # Keras' config file names TensorFlow, as Keras writes it on a first import.
    (tmp_path / "keras.json").write_text(json.dumps({"backend": "tensorflow"}))
    env |= {"KERAS_HOME": str(tmp_path), "TF_CPP_MIN_LOG_LEVEL": "3"}
    out = _fresh_process(ON_ITS_BACKEND, folder, tmp_path, env)
    assert out["backend"] == "jax"
    np.testing.assert_allclose(out["pyfunc"], expected, rtol=1e-5, atol=1e-6)


def _fresh_process(script: str, model_dir: Path, folder: Path, env: dict) -> dict:
    """What `script` prints last (JSON), run in a fresh Python on the model folder and x.npy."""
    done = subprocess.run(
        [sys.executable, "-c", script, str(model_dir), str(folder / "x.npy")],
        cwd=folder,
        env=env,
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_a_weighted_ensemble_packages_with_a_savedmodel_that_matches_it(tmp_path):
    """The registered model of a greedy selection: members weighted by Rescaling layers."""
    import tensorflow as tf

    import cells
    from search import packaging

    _, path = classifier(tmp_path)
    first, second = cells.load_model(path), cells.load_model(path)
    for variable in second.trainable_variables:  # a different member
        variable.assign(variable * 1.5)
    ensemble = cells.average_models([first, second], weights=[0.75, 0.25])
    ensemble.save(tmp_path / "ensemble.keras")
    out = tmp_path / "mlflow-model"
    metadata = classifier_metadata()
    packaging.package(str(tmp_path / "ensemble.keras"), metadata, str(out), input_shape=(None, 3))
    x = padded_cases()
    members = [m.predict(x.astype("float32"), verbose=0) for m in (first, second)]
    expected = 0.75 * members[0] + 0.25 * members[1]
    assert not np.allclose(members[0], members[1])
    served = tf.saved_model.load(str(out / "savedmodel"))
    np.testing.assert_allclose(
        served.serve(tf.constant(x, tf.float32)).numpy(), expected, atol=1e-6
    )
