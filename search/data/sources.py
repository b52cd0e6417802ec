"""Built-in datasets, all offline: aeon's bundled problems, airline passengers, the adding problem."""

from __future__ import annotations

import difflib

import numpy as np

from search.aeon_offline import available_aeon
from search.data.preprocessing import from_sequences
from search.data.raw import Cases, Series
from search.errors import DataError

BUILTIN_NAMES = ("aeon:<Name>", "airline", "adding:T=<steps>")
# The adding problem's options and defaults; `seed` fixes the generated data, independently of
# the search seed, so two searches on `adding:T=100` see the same cases.
ADDING_DEFAULTS = {"T": 100, "n": 10000, "seed": 0}


def is_builtin(source: str) -> bool:
    return source.startswith("aeon:") or source == "airline" or source.split(":")[0] == "adding"


def load_builtin(source: str, task: str) -> Cases | Series:
    if source.startswith("aeon:"):
        return load_aeon(source.removeprefix("aeon:"), task)
    if source == "airline":
        _require_task(source, task, "forecasting")
        return load_airline()
    _require_task(source, task, "regression")
    return make_adding(**parse_options(source))


def _require_task(source: str, task: str, needed: str) -> None:
    if task != needed:
        raise DataError(
            f"Source {source!r} is a {needed} problem, but data.task is {task!r}; set data.task to {needed!r}."
        )


def load_aeon(name: str, task: str) -> Cases:
    if task not in ("classification", "regression"):
        raise DataError(
            f"aeon:{name} holds labelled sequences, not a series to forecast; set data.task to 'classification'."
        )
    names = available_aeon(task)
    if name not in names:
        close = difflib.get_close_matches(name, names, n=1)
        hint = f" (the closest is {close[0]!r})" if close else ""
        raise DataError(
            f"aeon has no {task} dataset {name!r} on this machine; use one of those it has "
            f"offline{hint}: {', '.join(names)}, or your own file."
        )
    from aeon.datasets import load_classification, load_regression

    # Never pass extract_path: with it aeon skips the bundled copy and tries to download.
    loader = load_classification if task == "classification" else load_regression
    parts = [loader(name, split=split) for split in ("train", "test")]
    sequences, labels, is_test = [], [], []
    for index, (x, y) in enumerate(parts):
        # aeon gives (channels, steps) per case; we use (steps, features).
        sequences.extend(np.asarray(case, dtype=np.float64).T for case in x)
        labels.append(np.asarray(y))
        is_test.append(np.full(len(y), index == 1))
    x, lengths = from_sequences(sequences)
    y = np.concatenate(labels)
    if task == "regression":
        y = y.astype(np.float64).reshape(-1, 1)
    return Cases(
        x=x,
        lengths=lengths,
        y=y,
        feature_names=tuple(f"dim_{i}" for i in range(x.shape[2])),
        case_names=np.arange(len(y)),
        is_test=np.concatenate(is_test),
        where=f"aeon:{name}",
    )


def load_airline() -> Series:
    from aeon.datasets import load_airline as aeon_airline

    values = np.asarray(aeon_airline(), dtype=np.float64).reshape(-1, 1)
    # The usual benchmark: forecast the last 12 months (1960) from the 24 before.
    return Series(
        values,
        1,
        ("passengers",),
        "airline",
        default_test_size=12,
        default_window=24,
        default_horizon=12,
    )


def parse_options(source: str) -> dict[str, int]:
    options = dict(ADDING_DEFAULTS)
    _, _, text = source.partition(":")
    for item in filter(None, (part.strip() for part in text.split(","))):
        key, sep, value = item.partition("=")
        if not sep or key not in options or not value.strip().isdigit():
            raise DataError(
                f"Cannot read {item!r} in source {source!r}; write options as key=integer, "
                f"from {sorted(options)}, for example 'adding:T=100,n=2000'."
            )
        options[key] = int(value)
    if options["T"] < 2 or options["n"] < 10:
        raise DataError(f"The adding problem needs T >= 2 and n >= 10, but got {source!r}.")
    return options


def make_adding(T: int, n: int, seed: int) -> Cases:  # noqa: N803 (T is the problem's name for length)
    """The adding problem (Hochreiter and Schmidhuber 1997): add the two marked values.

    Channel 0 is uniform on [0, 1); channel 1 marks one step in each half of the sequence.
    """
    rng = np.random.default_rng(seed)
    x = np.zeros((n, T, 2))
    x[:, :, 0] = rng.uniform(0.0, 1.0, size=(n, T))
    half = T // 2
    first = rng.integers(0, half, size=n)
    second = rng.integers(half, T, size=n)
    rows = np.arange(n)
    x[rows, first, 1] = 1.0
    x[rows, second, 1] = 1.0
    y = (x[rows, first, 0] + x[rows, second, 0]).reshape(-1, 1)
    return Cases(x, np.full(n, T), y, ("value", "marker"), np.arange(n), None, f"adding:T={T}")
