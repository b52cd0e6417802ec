"""A registered model folder as MLflow's pyfunc flavour loads it, without MLflow or gru-search.

`mlflow.pyfunc.load_model` (and so `mlflow models serve`) puts the model's `code/` folder on
`sys.path` first, imports the loader module its MLmodel names, this one, and calls
`_load_pyfunc(data_path)`. The folder ships this package under `code/cells`, so serving needs
keras, its backend, numpy and pandas installed, and never gru-search: the custom layers come
from the copy that travelled with the model. Keras runs on the backend the model was trained
with (metadata.json's `keras_backend`, the one its requirements pin) unless the serving process
names one or has already imported Keras (cells.backend). Nothing here imports MLflow; its pyfunc contract
is a loader function and an object with `predict`.

The answer is a table: for classification the label and one probability column per class,
for regression one column per target, for forecasting one per target and step ahead.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

KERAS_FILE = "model.keras"
METADATA_FILE = "metadata.json"
LABEL_COLUMN = "label"
PROBABILITY_PREFIX = "probability_"


def _load_pyfunc(path: str):
    """MLflow's pyfunc loader: `path` is the model's data folder (model.keras, metadata.json)."""
    from cells.backend import choose_backend

    folder = Path(path)
    metadata = json.loads((folder / METADATA_FILE).read_text())
    choose_backend(metadata.get("keras_backend"))
    import keras  # here, not above: after the backend is chosen; the CLI reads this module's names

    from cells.loading import register_all

    register_all()
    # safe_mode: a file whose loading would run Python code (a Lambda layer) is refused.
    # Uncompiled: serving only predicts, and a trial checkpoint saved at its linear start
    # (epoch 0, before any optimizer step) would warn of the optimizer it lacks.
    model = keras.saving.load_model(folder / KERAS_FILE, safe_mode=True, compile=False)
    return Predictor(model, metadata)


class Predictor:
    """What `mlflow models serve` calls: raw (batch, steps, features) in, a labelled table out."""

    def __init__(self, model, metadata: dict):
        self.model = model
        self.metadata = metadata

    def predict(self, model_input, params=None):
        # float64 is what NumPy and JSON give; the model computes in float32.
        x = np.asarray(model_input, dtype="float32")
        return to_frame(self.model.predict(x, verbose=0), self.metadata)


def output_columns(metadata: dict) -> list[str]:
    """The columns `to_frame` writes, in order (the MLflow output signature names the same)."""
    if metadata.get("task") == "classification":
        return [LABEL_COLUMN, *(f"{PROBABILITY_PREFIX}{c}" for c in metadata["classes"])]
    targets = metadata.get("targets") or ["y"]
    if metadata.get("task") == "forecasting":
        horizon = int(metadata.get("horizon") or 1)
        return [f"{t}_step{h}" for h in range(1, horizon + 1) for t in targets]
    return list(targets)


def to_frame(outputs: np.ndarray, metadata: dict):
    """One row per case: the model's outputs under the names `output_columns` gives them."""
    import pandas as pd  # MLflow's own dependency; only serving and prediction need it

    outputs = np.asarray(outputs, dtype="float64").reshape(len(outputs), -1)
    columns = output_columns(metadata)
    if metadata.get("task") != "classification":
        return pd.DataFrame(outputs, columns=columns)
    classes = np.asarray([str(c) for c in metadata["classes"]])
    frame = pd.DataFrame(outputs, columns=columns[1:])
    frame.insert(0, LABEL_COLUMN, classes[outputs.argmax(axis=1)])
    return frame
