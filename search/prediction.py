"""`gru-search predict`: a model's answers for new data in the layout it was trained on.

New data is read by the training readers (search.data.files), told the layout the model's
metadata.json recorded: the feature columns in order, the id and time columns of a long
table, the target columns of a forecasting table. The answer has the served model's columns
(cells.serving.to_frame): for sequences one row per case, led by its id; for forecasting one
row per step ahead of the table's last window.
"""

from __future__ import annotations

import json
import tempfile
import zipfile
from pathlib import Path

import numpy as np

from cells.serving import KERAS_FILE, METADATA_FILE, to_frame
from search.data import files
from search.data.preprocessing import from_padded, from_sequences
from search.errors import DataError, GruSearchError
from search.spec.model import DataSpec

OUTPUT_EXTENSIONS = (".csv", ".parquet", ".pq")
# NPZ arrays read as the cases to predict, the first one present: new data's own name, then
# the training file's layout (its test cases before its training cases).
NPZ_ARRAYS = ("x", "x_test", "x_train")


def predict(model_ref: str, data_path: str, *, tracker=None):
    """The predictions of a pulled folder, a .keras file or a registered model (`tracker`'s)."""
    with tempfile.TemporaryDirectory(prefix="gru-search-predict-") as folder:
        model, metadata = load(model_ref, tracker, folder)
        return predict_with(model, metadata, Path(data_path))


def load(model_ref: str, tracker, scratch: str):
    """(Keras model, metadata) from a folder holding model.keras and metadata.json, or a registry ref."""
    from search import registry

    path = Path(model_ref)
    if path.is_dir() or path.suffix == ".keras":
        folder = path if path.is_dir() else path.parent
        if not (folder / KERAS_FILE).is_file() or not (folder / METADATA_FILE).is_file():
            raise GruSearchError(
                f"{model_ref!r} is not a pulled model folder (it needs {KERAS_FILE} and "
                f"{METADATA_FILE}); pull one with gru-search pull NAME -o DIR, or name a registered model."
            )
        return registry.safe_load(folder / KERAS_FILE, model_ref), json.loads(
            (folder / METADATA_FILE).read_text()
        )
    if tracker is None:
        raise GruSearchError(
            f"No model folder {model_ref!r}; give a pulled folder or a registered NAME@ALIAS or NAME/VERSION."
        )
    pulled = registry.pull(tracker, model_ref, scratch)
    return registry.safe_load(pulled.model_path, model_ref), pulled.metadata


def predict_with(model, metadata: dict, data_path: Path):
    if not data_path.is_file():
        raise DataError(f"The data file {str(data_path)!r} does not exist; fix the path.")
    if metadata.get("task") == "forecasting":
        return _forecast(model, metadata, data_path)
    x, ids, id_name = read_cases(data_path, metadata)
    frame = to_frame(model.predict(x.astype(np.float32), verbose=0), metadata)
    frame.insert(0, id_name, ids)
    return frame


def read_cases(path: Path, metadata: dict) -> tuple[np.ndarray, np.ndarray, str]:
    """(x (cases, steps, features) pre-padded with NaN, case ids, the id column's name)."""
    features = list(metadata.get("feature_names") or [])
    if path.suffix.lower() == ".npz":
        x, id_name = _read_npz(path), "case"
        ids = np.arange(len(x))
    elif path.suffix.lower() in files.EXTENSIONS:
        id_name = metadata.get("id_column") or "sequence_id"
        # The training layout, with no label columns: new data has none to read.
        layout = DataSpec(
            source=str(path), task=metadata.get("task"), id_column=id_name,
            time_column=metadata.get("time_column") or "time", label_column=(), features=tuple(features) or None,
        )  # fmt: skip
        cases = files.load_long(path, layout, metadata.get("task"))
        x, ids = cases.x, cases.case_names
    else:
        raise DataError(
            f"Cannot read {path.name}: give an {', '.join(files.EXTENSIONS)} file in the training layout."
        )
    _check_shape(x, metadata, path.name)
    return x, ids, id_name


def _read_npz(path: Path) -> np.ndarray:
    try:
        with np.load(path, allow_pickle=False) as archive:
            name = next((n for n in NPZ_ARRAYS if n in archive.files), None)
            if name is None:
                raise DataError(
                    f"{path.name} holds arrays {sorted(archive.files)}, but the cases to predict must be "
                    f"one named {' or '.join(NPZ_ARRAYS)}; save them with np.savez(path, x=...)."
                )
            x = archive[name]
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as error:
        raise DataError(
            f"Cannot read {path.name} as NumPy arrays ({type(error).__name__}); save the cases with "
            "np.savez(path, x=...) as one (cases, steps, features) array padded with NaN."
        ) from None
    sequences = files.npz_cases(x, name.removeprefix("x_") if name != "x" else "x", path.name)
    if all(s.shape == sequences[0].shape for s in sequences):
        return from_padded(np.stack(sequences))[0]
    return from_sequences(sequences)[0]


def _check_shape(x: np.ndarray, metadata: dict, where: str) -> None:
    steps, width = (list(metadata.get("input_shape") or []) + [None, None])[:2]
    if width is not None and x.shape[2] != width:
        raise DataError(
            f"{where} has {x.shape[2]} features per step, but the model takes {width}; give the training features."
        )
    if steps is not None and x.shape[1] != steps:
        raise DataError(
            f"{where} has sequences of {x.shape[1]} steps, but the model takes exactly {steps}; "
            "cut or pad them to that length."
        )


def _forecast(model, metadata: dict, path: Path):
    """The forecast from the table's last `window` rows: one row per step ahead."""
    import pandas as pd

    names = list(metadata.get("feature_names") or [])
    targets = list(metadata.get("targets") or names[:1])
    layout = DataSpec(
        source=str(path), task="forecasting", time_column=metadata.get("time_column") or "time",
        target=tuple(targets), features=tuple(n for n in names if n not in targets),
    )  # fmt: skip
    series = files.load_table(path, layout)
    window = int((metadata.get("input_shape") or [len(series.values)])[0])
    if len(series.values) < window:
        raise DataError(
            f"{path.name} has {len(series.values)} rows, but the model forecasts from the last {window}; give at least {window}."
        )
    x = series.values[-window:][None].astype(np.float32)
    forecast = np.asarray(model.predict(x, verbose=0)).reshape(
        -1, len(targets)
    )  # (horizon, targets)
    frame = pd.DataFrame(forecast, columns=targets)
    frame.insert(0, "step", np.arange(1, len(forecast) + 1))
    return frame


def write(frame, output: str | None) -> None:
    """CSV or Parquet by the output's extension; CSV on stdout when there is none."""
    if output is None:
        import sys

        frame.to_csv(sys.stdout, index=False)
        return
    path = Path(output)
    suffix = path.suffix.lower()
    if suffix not in OUTPUT_EXTENSIONS:
        raise GruSearchError(
            f"Cannot write predictions to {output!r}; end the file name with {' or '.join(OUTPUT_EXTENSIONS)}."
        )
    path.parent.mkdir(parents=True, exist_ok=True)
    if suffix == ".csv":
        frame.to_csv(path, index=False)
    else:
        frame.to_parquet(path, index=False)
