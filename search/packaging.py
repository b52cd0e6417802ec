"""The best model as one MLflow model folder that stands alone.

The folder holds the `.keras` file and metadata.json (`data/keras/`), the `cells` package that
defines its layers (`code/cells`, MLflow's `code_paths`: serving puts it on `sys.path`, so
nothing needs gru-search installed), the pinned libraries it runs on (requirements.txt,
conda.yaml, python_env.yaml, so `mlflow models serve --env-manager virtualenv` and
`mlflow models build-docker` can build its environment: the Keras backend it was trained on,
TensorFlow or JAX, not both), and where TensorFlow is installed a TensorFlow SavedModel
(`savedmodel/`) that plain TensorFlow loads without Keras or `cells`. MLmodel's `metadata`
says what goes in and what comes out (`model_card`).
"""

from __future__ import annotations

import json
import logging
import shutil
import tempfile
import warnings
from pathlib import Path

from cells.serving import KERAS_FILE, LABEL_COLUMN, METADATA_FILE, output_columns

log = logging.getLogger("gru_search")

SAVEDMODEL_DIR = "savedmodel"
# What the model folder runs on: the Keras backend it was trained with, then the rest.
# gru-search itself is not listed: its code travels in code/.
BACKEND_REQUIREMENTS = {"tensorflow": ("tensorflow",), "jax": ("jax", "jaxlib")}
REQUIREMENTS = ("keras", "numpy", "pandas", "mlflow")
INPUT_LAYOUT = "(batch, steps, features); a time step whose features are all NaN is padding"


def package(keras_path: str, metadata: dict, out_dir: str, *, input_shape) -> str:
    """Writes the MLflow pyfunc model folder described in the module doc into `out_dir`."""
    import mlflow.pyfunc

    import cells

    data = Path(tempfile.mkdtemp(prefix="gru-search-model-")) / "keras"
    data.mkdir()
    shutil.copyfile(keras_path, data / KERAS_FILE)
    (data / METADATA_FILE).write_text(json.dumps(metadata, indent=2, default=str))
    with warnings.catch_warnings():
        # The signature is explicit; an input example would store data cases in the registry.
        # (MLflow's message starts with a colour code, hence the leading `.*`.)
        warnings.filterwarnings("ignore", ".*An input example was not provided", UserWarning)
        mlflow.pyfunc.save_model(
            out_dir,
            # A loader module rather than a pickled PythonModel: nothing is unpickled at
            # serving time, and the loader registers the shipped cells before Keras reads the file.
            loader_module="cells.serving",
            data_path=str(data),
            code_paths=[str(Path(cells.__file__).parent)],
            signature=signature(metadata, input_shape),
            # Explicit: inferring requirements imports and probes the model (~20 s).
            pip_requirements=pip_requirements(metadata.get("keras_backend") or _backend()),
            metadata=model_card(metadata),
        )
    shutil.rmtree(data.parent, ignore_errors=True)
    export_savedmodel(keras_path, Path(out_dir) / SAVEDMODEL_DIR)
    return out_dir


def signature(metadata: dict, input_shape):
    """float64 raw input (what NumPy and JSON give; float32 loses nothing the model keeps), and
    the named columns `cells.serving.to_frame` answers with."""
    import numpy as np
    from mlflow.models import ModelSignature
    from mlflow.types.schema import ColSpec, Schema, TensorSpec

    shape = (-1, *(d if d is not None else -1 for d in input_shape))
    columns = [
        ColSpec("string" if name == LABEL_COLUMN else "double", name)
        for name in output_columns(metadata)
    ]
    return ModelSignature(
        inputs=Schema([TensorSpec(np.dtype("float64"), shape)]), outputs=Schema(columns)
    )


def pip_requirements(backend: str = "tensorflow") -> list[str]:
    """The libraries the folder runs on with Keras' `backend`, pinned to the versions this
    process uses."""
    from importlib.metadata import PackageNotFoundError, version

    out = []
    for name in (*BACKEND_REQUIREMENTS.get(backend, (backend,)), *REQUIREMENTS):
        try:
            out.append(f"{name}=={version(name)}")
        except PackageNotFoundError:
            out.append(name)
    return out


def _backend() -> str:
    import keras

    return keras.backend.backend()


def model_card(metadata: dict) -> dict:
    """What a user of the registered model needs: MLmodel's `metadata`, and the version's
    description (`describe`). Plain values only: MLmodel is YAML."""
    objective = metadata.get("objective") or {}
    card = {
        "task": metadata.get("task"),
        "input": {
            "layout": INPUT_LAYOUT,
            "steps": (metadata.get("input_shape") or [None])[0],
            "dtype": "float64 through MLflow (the signature); float32 for the .keras file and the SavedModel; raw units",
        },
        "feature_names": list(metadata.get("feature_names") or []),
        "classes": metadata.get("classes"),
        "targets": metadata.get("targets"),
        "horizon": metadata.get("horizon"),
        "outputs": output_columns(metadata),
        "objective": {k: objective.get(k) for k in ("metric", "mode", "value") if k in objective},
        "test_metrics": metadata.get("test_metrics"),
        "data_fingerprint": metadata.get("data_fingerprint"),
    }
    return {k: v for k, v in card.items() if v is not None}


def describe(metadata: dict) -> str:
    """The registered version's description, in Markdown (the MLflow UI renders it)."""
    card = model_card(metadata)
    lines = [f"**{card.get('task', 'model')}** from search `{metadata.get('search')}`.", ""]
    lines.append(
        f"- input: float (batch, steps, features); steps {card['input']['steps'] or 'any'}; "
        "a time step whose features are all NaN is padding"
    )
    lines.append(f"- features, in order: {', '.join(map(str, card['feature_names'])) or '-'}")
    if card.get("classes") is not None:
        lines.append(
            f"- classes (probability columns in this order): {', '.join(map(str, card['classes']))}"
        )
    if card.get("targets") is not None:
        lines.append(f"- targets: {', '.join(map(str, card['targets']))}")
    lines.append(f"- answers with columns: {', '.join(card['outputs'])}")
    if card.get("objective"):
        o = card["objective"]
        lines.append(f"- chosen on {o.get('metric')} ({o.get('mode')}): {o.get('value')}")
    if card.get("test_metrics"):
        lines.append(
            "- test: " + ", ".join(f"{k} {v:.4g}" for k, v in card["test_metrics"].items())
        )
    lines.append("")
    lines.append(
        "Load it with `mlflow.pyfunc.load_model`, `gru-search pull` (`--format keras|savedmodel|onnx`) "
        "or `tf.saved_model.load` on its `savedmodel/` folder (where TensorFlow exported one)."
    )
    return "\n".join(lines)


def export_savedmodel(keras_path, out_dir: Path) -> bool:
    """The model as a TensorFlow SavedModel (`serve` takes float32 (batch, steps, features)).

    A failed export is logged and skipped rather than raised: it must not lose a finished
    search's registered model, which still serves through its `.keras` file. Without TensorFlow
    installed (the `jax` extra) there is nothing to export with: one line says so.
    """
    from cells.backend import installed
    from search.registry import safe_load

    if not installed("tensorflow"):
        log.info(
            "TensorFlow is not installed, so no SavedModel is exported (the .keras file serves)"
        )
        return False
    try:
        safe_load(keras_path, str(keras_path)).export(
            str(out_dir), format="tf_saved_model", verbose=False
        )
        return True
    except Exception as error:  # noqa: BLE001 (any exporter failure: see the docstring)
        shutil.rmtree(out_dir, ignore_errors=True)
        log.warning(
            "the model could not be exported as a SavedModel (%s: %s); it is registered without one",
            type(error).__name__,
            error,
        )
        return False


def export_onnx(keras_path, out_file: Path) -> None:
    """The model as ONNX, through Keras' own exporter (which needs tf2onnx)."""
    from search.errors import GruSearchError
    from search.registry import safe_load

    try:
        import tf2onnx  # noqa: F401 (Keras imports it itself; asked here for a clear message)
    except ImportError:
        raise GruSearchError(
            "ONNX export needs the tf2onnx package; install it (pip install tf2onnx) or pull "
            "--format keras or savedmodel."
        ) from None
    safe_load(keras_path, str(keras_path)).export(str(out_file), format="onnx", verbose=False)
