"""The user's own files: NPZ arrays, and CSV or Parquet tables read with pandas/pyarrow."""

from __future__ import annotations

import difflib
import pickle
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.csv
import pyarrow.parquet

from search.data.preprocessing import from_padded, from_sequences, pad_rows
from search.data.raw import Cases, Series
from search.errors import DataError

EXTENSIONS = (".npz", ".csv", ".parquet", ".pq")
SPLIT_VALUES = ("train", "test")


def resolve(source: str, base_dir: str | Path | None) -> Path:
    path = Path(source).expanduser()
    if not path.is_absolute() and base_dir is not None:
        path = Path(base_dir) / path
    if path.suffix.lower() not in EXTENSIONS:
        raise DataError(
            f"data.source {source!r} is neither a built-in dataset (aeon:<Name>, airline, adding:T=<steps>) "
            f"nor a file with a known extension; use one of {', '.join(EXTENSIONS)}."
        )
    if not path.is_file():
        raise DataError(
            f"data.source file {str(path)!r} does not exist; fix the path (a relative path is read "
            "from the spec's folder)."
        )
    return path


def read_table(path: Path) -> pd.DataFrame:
    try:
        if path.suffix.lower() == ".csv":
            # pyarrow parses in parallel and in C++ (a million rows in about a second), and
            # self_destruct hands its buffers to pandas instead of holding a second copy.
            table = pyarrow.csv.read_csv(path)
        else:
            table = pyarrow.parquet.read_table(path)
        return table.to_pandas(self_destruct=True, split_blocks=True)
    except (OSError, ValueError, pyarrow.ArrowException) as error:
        # Keep the reader's first sentence only: ours must stay one sentence.
        detail = str(error).split(". ")[0].rstrip(".")
        raise DataError(
            f"Cannot read {path.name} as a table ({detail}); check that the file is a valid "
            f"{path.suffix[1:]} file."
        ) from error


def check_columns(frame: pd.DataFrame, wanted: list[tuple[str, str]], where: str) -> None:
    """Every wanted column (spec field -> column) exists; a miss suggests the closest name."""
    columns = [str(c) for c in frame.columns]
    for field, column in wanted:
        if column not in frame.columns:
            close = difflib.get_close_matches(column, columns, n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            raise DataError(
                f"{field} {column!r} is not a column of {where}{hint}; set it to one of: {', '.join(columns)}."
            )


def numeric_columns(frame: pd.DataFrame, names: list[str], field: str, where: str) -> np.ndarray:
    for name in names:
        if not pd.api.types.is_numeric_dtype(frame[name]) or pd.api.types.is_bool_dtype(
            frame[name]
        ):
            raise DataError(
                f"Column {name!r} of {where} is not numeric (dtype {frame[name].dtype}); list only "
                f"numeric columns in {field}."
            )
    return frame[names].to_numpy(dtype=np.float64)


def _npz_arrays(path: Path, allow_pickle: bool) -> dict:
    """Every array of an NPZ file, or one sentence on why it cannot be read."""
    # Variable-length data comes as object arrays, which NumPy stores pickled; unpickling can run
    # code, so it takes the spec's explicit `allow_pickle: true`.
    try:
        with np.load(path, allow_pickle=allow_pickle) as archive:
            arrays = {key: archive[key] for key in archive.files}
    except ValueError as error:
        if allow_pickle or "allow_pickle" not in str(error):
            raise DataError(
                f"Cannot read {path.name} as NumPy arrays (ValueError); save it with "
                "np.savez(path, x_train=..., y_train=...)."
            ) from None
        raise DataError(
            f"{path.name} holds object arrays (variable-length cases), which NumPy stores as "
            "pickles that can run code when loaded; pad the cases with NaN to one length, or set "
            "data.allow_pickle: true if you trust the file."
        ) from None
    except (OSError, EOFError, zipfile.BadZipFile, pickle.UnpicklingError) as error:
        raise DataError(
            f"Cannot read {path.name} as NumPy arrays ({type(error).__name__}); save it with "
            "np.savez(path, x_train=..., y_train=...)."
        ) from None
    return arrays


def load_npz(path: Path, task: str, allow_pickle: bool = False) -> Cases:
    arrays = _npz_arrays(path, allow_pickle)
    missing = [key for key in ("x_train", "y_train") if key not in arrays]
    if missing or (("x_test" in arrays) != ("y_test" in arrays)):
        raise DataError(
            f"{path.name} holds arrays {sorted(arrays)}, but needs x_train and y_train (and x_test "
            "with y_test, or neither); save it with np.savez(path, x_train=..., y_train=...)."
        )
    parts = [("train", arrays["x_train"], arrays["y_train"])]
    if "x_test" in arrays:
        parts.append(("test", arrays["x_test"], arrays["y_test"]))
    sequences, labels, is_test = [], [], []
    for split, x, y in parts:
        if len(x) != len(y):
            raise DataError(
                f"{path.name}: x_{split} has {len(x)} cases but y_{split} has {len(y)}; give one label per case."
            )
        sequences.extend(npz_cases(x, split, path.name))
        labels.append(np.asarray(y))
        is_test.append(np.full(len(y), split == "test"))
    widths = {s.shape[1] for s in sequences}
    if len(widths) > 1:
        raise DataError(
            f"{path.name} mixes cases with {sorted(widths)} features; every case needs the same features."
        )
    if all(s.shape == sequences[0].shape for s in sequences):
        # Equal shapes: stack once, and read any NaN steps at the ends as the file's own padding.
        x, lengths = from_padded(np.stack(sequences))
    else:
        x, lengths = from_sequences(sequences)
    y = np.concatenate(labels)
    if task == "regression":
        y = _regression_targets(y, f"{path.name} y arrays")
    return Cases(
        x,
        lengths,
        y,
        tuple(f"x{i}" for i in range(x.shape[2])),
        np.arange(len(y)),
        np.concatenate(is_test) if len(parts) > 1 else None,
        path.name,
    )


def npz_cases(x: np.ndarray, split: str, where: str) -> list[np.ndarray]:
    cases = list(x) if x.dtype == object else list(np.asarray(x, dtype=np.float64))
    out = []
    for case in cases:
        case = np.asarray(case, dtype=np.float64)
        if case.ndim == 1:
            case = case[:, None]  # univariate: (steps,) -> (steps, 1)
        if case.ndim != 2:
            raise DataError(
                f"{where}: x_{split} cases must be (steps, features) arrays, but one has shape {case.shape}; "
                "save x as (cases, steps, features) or an object array of (steps, features) arrays."
            )
        out.append(case)
    return out


def _regression_targets(y: np.ndarray, where: str) -> np.ndarray:
    try:
        y = np.asarray(y, dtype=np.float64)
    except (TypeError, ValueError) as error:
        raise DataError(
            f"{where} are not numbers ({error}); regression needs numeric targets."
        ) from error
    return y.reshape(len(y), -1)


def load_long(path: Path, spec, task: str) -> Cases:
    """One row per time step of a sequence: id, optional time, features, label, optional split."""
    frame = read_table(path)
    id_column, time_column, split_column = spec.id_column, spec.time_column, spec.split_column
    labels, time_column, features = _long_columns(frame, spec, path.name)
    codes, ids = pd.factorize(frame[id_column], sort=False)
    if (codes < 0).any():
        raise DataError(
            f"{path.name} has rows without a {id_column!r} value (row {int(np.argmax(codes < 0))}); give every row a sequence id."
        )
    if time_column is not None:
        sort_by = pd.DataFrame({"case": codes, "time": frame[time_column].to_numpy()})
        order = sort_by.sort_values(["case", "time"], kind="stable").index.to_numpy()
    else:
        order = np.argsort(codes, kind="stable")
    # Reorder only the arrays we keep, not the whole frame; most files are in order already.
    if np.all(order[1:] > order[:-1]):
        order = slice(None)
    codes = codes[order]
    values = numeric_columns(frame, features, "data.features", path.name)[order]
    x, lengths = pad_rows(values, codes, len(ids))
    del values
    starts = np.cumsum(lengths) - lengths

    def per_case(column: str, what: str) -> np.ndarray:
        column_values = frame[column].to_numpy()[order]
        return _constant_per_case(column_values, codes, starts, ids, what, path.name)

    y_columns = [per_case(c, f"label column {c!r}") for c in labels]
    if not labels:  # new data to predict (search.prediction): no labels to read
        y = np.zeros((len(ids), 0))
    elif task == "regression":
        y = _regression_targets(np.column_stack(y_columns), f"{path.name} label column(s) {labels}")
    else:
        y = y_columns[0]
    is_test = None
    if split_column in frame.columns:
        split = per_case(split_column, f"split column {split_column!r}")
        split = np.char.lower(split.astype(str))
        unknown = sorted({str(v) for v in np.unique(split)} - set(SPLIT_VALUES))
        if unknown:
            raise DataError(
                f"The split column {split_column!r} of {path.name} holds {unknown}; use only 'train' or 'test'."
            )
        is_test = split == "test"
    return Cases(x, lengths, y, tuple(features), np.asarray(ids), is_test, path.name)


def _long_columns(frame, spec, where: str) -> tuple[list, str | None, list]:
    """(label columns, time column or None, feature columns) of a long table, each checked."""
    id_column, time_column, labels = spec.id_column, spec.time_column, spec.label_column
    # A list of columns for several regression targets; empty when predicting new data.
    labels = [labels] if isinstance(labels, str) else list(labels)
    wanted = [("data.id_column", id_column), *(("data.label_column", c) for c in labels)]
    # The default time column is optional (rows are then in time order); a named one is required.
    if time_column != "time" or "time" in frame.columns:
        wanted.append(("data.time_column", time_column))
    else:
        time_column = None
    features = spec.features
    if features is not None:
        wanted.extend(("data.features", c) for c in features)
    check_columns(frame, wanted, where)
    reserved = {id_column, time_column, spec.split_column, *labels}
    features = (
        list(features) if features is not None else [c for c in frame.columns if c not in reserved]
    )
    if not features:
        raise DataError(
            f"{where} has no feature columns besides the id, time, label and split columns; add some or set data.features."
        )
    return labels, time_column, features


def _constant_per_case(values: np.ndarray, codes, starts, ids, what: str, where: str) -> np.ndarray:
    """One value per case from a column (rows grouped by case) that must not change within a case."""
    first = values[starts]
    same = pd.Series(values) == pd.Series(first[codes])
    both_missing = pd.isna(pd.Series(values)) & pd.isna(pd.Series(first[codes]))
    varies = ~(same | both_missing).to_numpy()
    if varies.any():
        row = int(np.argmax(varies))
        raise DataError(
            f"The {what} of {where} changes within sequence {_plain(ids[codes[row]])!r} "
            f"({_plain(first[codes[row]])!r} then {_plain(values[row])!r}); give each sequence one value."
        )
    return first


def load_table(path: Path, spec) -> Series:
    """A time-indexed table for forecasting: target column(s), optional exogenous features."""
    frame = read_table(path)
    time_column = spec.time_column
    wanted = []
    if time_column != "time" or "time" in frame.columns:
        wanted.append(("data.time_column", time_column))
    else:
        time_column = None
    targets = spec.target
    if isinstance(targets, str):
        targets = [targets]
    if not targets:
        candidates = [c for c in frame.columns if c != time_column]
        if len(candidates) != 1:
            raise DataError(
                f"{path.name} has several columns ({', '.join(map(str, candidates))}); set data.target to the column(s) to forecast."
            )
        targets = candidates
    wanted.extend(("data.target", c) for c in targets)
    features = spec.features
    if features is not None:
        wanted.extend(("data.features", c) for c in features)
    check_columns(frame, wanted, path.name)
    if features is None:
        features = [c for c in frame.columns if c != time_column and c not in targets]
    if time_column is not None:
        time = frame[time_column]
        if not (time.is_monotonic_increasing and time.is_unique):
            raise DataError(
                f"The {time_column!r} column of {path.name} is not strictly increasing; sort the "
                "rows by time and remove duplicate times."
            )
    names = [*targets, *[f for f in features if f not in targets]]
    values = numeric_columns(frame, names, "data.target and data.features", path.name)
    return Series(values, len(targets), tuple(names), path.name)


def _plain(value):
    """NumPy scalars as Python values, so messages show 'cat', not np.str_('cat')."""
    return value.item() if isinstance(value, np.generic) else value
