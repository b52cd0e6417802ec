"""`prepare(data_spec, seed) -> Task`: load, clean, split and describe the data, before any training.

`data_spec` is a `search.spec.DataSpec`, whose defaults are the only ones: nothing here has its own.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from cells.architecture import HEAD_KINDS, Head
from search.data import files, sources
from search.data.fingerprint import fingerprint
from search.data.preprocessing import (
    MISSING_POLICIES,
    channel_stats,
    clean_missing,
    encode_labels,
    forward_fill,
)
from search.data.raw import Cases, Series
from search.data.splits import check_class_counts, check_fraction, series_bounds, split_off, windows
from search.data.task import Task
from search.errors import DataError

DEFAULT_TEST_FRACTION = 0.2


@dataclass(frozen=True)
class _TaskInfo:
    """What a Task holds besides its arrays; `settings` are what the fingerprint covers with them."""

    kind: str
    head: Head
    feature_mean: np.ndarray  # statistics of the training split only
    feature_std: np.ndarray
    feature_names: Sequence
    classes: tuple[str, ...] | None  # the label of each class index; None unless classification
    settings: dict


def prepare(data_spec, seed: int) -> Task:
    """The Task for `data_spec`; every problem with the data raises DataError here."""
    task = data_spec.task
    if task not in HEAD_KINDS:
        raise DataError(f"data.task must be one of {HEAD_KINDS}, but got {task!r}.")
    missing = data_spec.missing
    if missing not in MISSING_POLICIES:
        raise DataError(f"data.missing must be one of {MISSING_POLICIES}, but got {missing!r}.")
    validation = check_fraction(data_spec.validation, "data.validation")
    raw = load(data_spec)
    settings = {"task": task, "missing": missing, "validation": validation, "padding": "pre"}
    if isinstance(raw, Series):
        return _prepare_series(raw, data_spec, missing, validation, settings)
    return _prepare_cases(raw, data_spec, task, seed, missing, validation, settings)


def load(data_spec) -> Cases | Series:
    """What the source holds, before cleaning and splitting."""
    source, task = str(data_spec.source), data_spec.task
    if sources.is_builtin(source):
        return sources.load_builtin(source, task)
    path = files.resolve(source, data_spec.base_dir)
    if path.suffix.lower() == ".npz":
        if task == "forecasting":
            raise DataError(
                f"Forecasting reads a time-indexed CSV or Parquet table, not {path.name}; convert the series to a table with one column per series."
            )
        return files.load_npz(path, task, allow_pickle=data_spec.allow_pickle)
    if task == "forecasting":
        return files.load_table(path, data_spec)
    return files.load_long(path, data_spec, task)


def _prepare_cases(
    cases: Cases, spec, task: str, seed: int, missing: str, validation: float, settings: dict
) -> Task:
    label = spec.label_column
    cases = clean_missing(cases, missing, "label" if isinstance(label, str) else "target")
    if len(cases.y) == 0:
        raise DataError(
            f"{cases.where} holds no usable sequences; check data.source and data.missing."
        )
    classes = strata = None
    if task == "classification":
        y, classes = encode_labels(cases.y, cases.where)
        strata = y  # stratify every split by class
    else:
        y = cases.y.astype(np.float32)
    rng = np.random.default_rng(seed)
    pool, test = _test_split(cases, strata, classes, spec.test_size, rng, settings)
    kept, held = split_off(
        len(pool),
        validation,
        rng,
        codes=None if strata is None else strata[pool],
        keep_at_least=1,
        name="validation",
        where=cases.where,
    )
    train, val = pool[kept], pool[held]

    x = cases.x.astype(np.float32)
    feature_mean, feature_std = channel_stats(x[train])
    head = _cases_head(task, classes, y[train])
    info = _TaskInfo(task, head, feature_mean, feature_std, cases.feature_names, classes, settings)
    parts = (train, val, test)
    return _finish([x[p] for p in parts], [y[p] for p in parts], info)


def _test_split(cases: Cases, strata, classes, test_size, rng, settings: dict):
    """(pool, test) case indices: the source's own test split counts unless the spec asks for a
    test_size of its own; the pool is split into training and validation next."""
    if cases.is_test is not None and test_size is None:
        test, pool = np.flatnonzero(cases.is_test), np.flatnonzero(~cases.is_test)
        for name, part in (("test", test), ("training", pool)):
            if part.size == 0:
                raise DataError(
                    f"{cases.where} marks no {name} cases in its own split; mark some, or set "
                    "data.test_size to split the data instead."
                )
        if strata is not None:
            unseen = np.setdiff1d(strata[test], strata[pool])
            if unseen.size:
                raise DataError(
                    f"Class {classes[unseen[0]]!r} of {cases.where} appears in the test split but "
                    "never in training; add training cases of it."
                )
            check_class_counts(
                strata[pool], classes, 2, "a stratified validation split", cases.where
            )
        return pool, test
    fraction = _test_fraction(test_size, len(cases.y))
    settings["test_size"] = fraction
    if strata is not None:
        check_class_counts(
            strata, classes, 3, "a stratified test and validation split", cases.where
        )
    return split_off(
        len(cases.y), fraction, rng, codes=strata, keep_at_least=2, name="test", where=cases.where
    )


def _cases_head(task: str, classes, y_train: np.ndarray) -> Head:
    """The head for `task`; a regression head carries the training targets' statistics."""
    if task == "classification":
        return Head("classification", num_outputs=len(classes))
    target_mean, target_std = channel_stats(y_train)
    return Head(
        task,
        num_outputs=y_train.shape[1],
        target_mean=_floats(target_mean),
        target_std=_floats(target_std),
    )


def _prepare_series(series: Series, spec, missing: str, validation: float, settings: dict) -> Task:
    values = _clean_series(series, missing)
    window = _positive(spec.window or series.default_window, "data.window")
    horizon = spec.horizon or series.default_horizon or 1
    horizon = _positive(horizon, "data.horizon")
    stride = _positive(spec.stride, "data.stride")
    test_size = spec.test_size
    test_size = series.default_test_size if test_size is None else test_size
    train_end, val_end = series_bounds(
        len(values), test_size, validation, window, horizon, series.where
    )
    settings.update(window=window, horizon=horizon, stride=stride, test_size=test_size)
    k = series.num_targets
    parts = [
        windows(values, k, window, horizon, start, end, stride)
        for start, end in ((0, train_end), (train_end, val_end), (val_end, len(values)))
    ]
    feature_mean, feature_std = channel_stats(values[:train_end])
    target_mean, target_std = channel_stats(values[:train_end, :k])
    head = Head(
        "forecasting",
        num_outputs=k,
        horizon=horizon,
        target_mean=_floats(target_mean),
        target_std=_floats(target_std),
    )
    x = [p[0].astype(np.float32) for p in parts]
    y = [p[1].astype(np.float32) for p in parts]
    info = _TaskInfo(
        "forecasting", head, feature_mean, feature_std, series.feature_names, None, settings
    )
    return _finish(x, y, info)


def _clean_series(series: Series, missing: str) -> np.ndarray:
    values = series.values
    bad = ~np.isfinite(values)
    if not bad.any():
        return values
    row, column = np.argwhere(bad)[0]
    if missing == "error":
        what = "an infinite" if np.isinf(values[row, column]) else "a missing (NaN)"
        raise DataError(
            f"{series.where} has {what} value in column {series.feature_names[column]!r} at row {row} "
            f"({int(bad.sum())} such values in all); fix the data or set data.missing to 'drop' "
            "(drops those rows) or 'fill' (carries the last value forward)."
        )
    if missing == "drop":
        return values[~bad.any(axis=1)]
    values = np.where(bad, np.nan, values)[None]
    values = forward_fill(forward_fill(values)[:, ::-1])[:, ::-1][0]
    if np.isnan(values).any():
        column = int(np.argwhere(np.isnan(values))[0, 1])
        raise DataError(
            f"Column {series.feature_names[column]!r} of {series.where} has no values to fill from; remove it or fix the data."
        )
    return values


def _test_fraction(test_size, num_cases: int) -> float:
    """data.test_size as a fraction: None is the default, an int a number of cases."""
    if test_size is None:
        return DEFAULT_TEST_FRACTION
    if isinstance(test_size, int) and not isinstance(test_size, bool) and test_size >= 1:
        if test_size >= num_cases:
            raise DataError(
                f"data.test_size asks for {test_size} test cases, but the data has only "
                f"{num_cases}; lower it or give a fraction such as 0.2."
            )
        # Stratified per class, so the count is met up to rounding within each class.
        return test_size / num_cases
    return check_fraction(test_size, "data.test_size")


def _positive(value, field: str) -> int:
    if value is None:
        raise DataError(f"Forecasting needs {field}; set it to a number of time steps.")
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < 1:
        raise DataError(f"{field} must be a positive number of time steps, but got {value!r}.")
    return int(value)


def _floats(values: np.ndarray) -> tuple[float, ...]:
    return tuple(float(v) for v in values)


def _finish(xs: list, ys: list, info: _TaskInfo) -> Task:
    """The Task of the training, validation and test inputs `xs` and targets `ys`."""
    for name, x in zip(("training", "validation", "test"), xs, strict=True):
        if len(x) == 0:
            raise DataError(
                f"The {name} split is empty; use more data or change data.validation and data.test_size."
            )
    arrays = {
        f"{a}_{s}": v
        for a, parts in (("x", xs), ("y", ys))
        for s, v in zip(("train", "val", "test"), parts, strict=True)
    }
    arrays.update(feature_mean=info.feature_mean, feature_std=info.feature_std)
    head = info.head
    settings = {
        **info.settings,
        "classes": info.classes,
        "head": [head.kind, head.num_outputs, head.horizon],
    }
    return Task(
        kind=info.kind,
        x_train=xs[0],
        y_train=ys[0],
        x_val=xs[1],
        y_val=ys[1],
        x_test=xs[2],
        y_test=ys[2],
        head=head,
        feature_mean=info.feature_mean,
        feature_std=info.feature_std,
        feature_names=tuple(str(n) for n in info.feature_names),
        classes=info.classes,
        fingerprint=fingerprint(arrays, settings),
    )
