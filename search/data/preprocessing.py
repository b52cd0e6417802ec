"""Array work shared by every source: padding, missing values, labels, statistics.

Everything here is vectorised over rows and time steps: a one-million-row table goes through
NumPy calls, never a Python loop per row.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

import numpy as np

from search.data.raw import Cases
from search.errors import DataError

MISSING_POLICIES = ("error", "drop", "fill")


def pad_rows(
    values: np.ndarray, codes: np.ndarray, num_cases: int
) -> tuple[np.ndarray, np.ndarray]:
    """Scatter rows into a pre-padded (cases, steps, features) array.

    `codes` gives each row's case and must be non-decreasing, with each case's rows in time
    order. Returns the float64 array and each case's length.
    """
    lengths = np.bincount(codes, minlength=num_cases)
    steps = int(lengths.max()) if num_cases else 0
    starts = np.cumsum(lengths) - lengths
    # Row r of case c lands at (steps - length_c) + its rank within the case.
    position = np.arange(len(codes)) - starts[codes] + (steps - lengths)[codes]
    x = np.full((num_cases, steps, values.shape[1]), np.nan)
    x[codes, position] = values
    return x, lengths


def from_sequences(sequences: Sequence[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """Pre-pad a list of (steps_i, features) arrays."""
    lengths = np.array([len(s) for s in sequences], dtype=np.int64)
    values = np.concatenate([np.asarray(s, dtype=np.float64) for s in sequences])
    codes = np.repeat(np.arange(len(sequences)), lengths)
    return pad_rows(values, codes, len(sequences))


def from_padded(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Re-align a (cases, steps, features) array whose padding is whole NaN steps at either end.

    Leading and trailing all-NaN steps count as padding; NaN between real steps stays, so
    `clean_missing` reports it. The result is pre-padded, whatever padding the file used.
    """
    x = np.asarray(x, dtype=np.float64)
    cases, steps = x.shape[:2]
    real = ~np.isnan(x).all(axis=-1)  # (cases, steps)
    first = np.where(real.any(axis=1), real.argmax(axis=1), steps)
    last = steps - 1 - real[:, ::-1].argmax(axis=1)
    lengths = np.where(real.any(axis=1), last - first + 1, 0)
    # Roll each case right so its last real step is the array's last step; the trailing
    # padding wraps round to the front, where it is padding again.
    shift = steps - 1 - last
    index = (np.arange(steps)[None, :] - shift[:, None]) % steps
    x = np.take_along_axis(x, index[:, :, None], axis=1)
    return x, lengths


def in_sequence(lengths: np.ndarray, steps: int) -> np.ndarray:
    """bool (cases, steps): True on each case's real steps, False on its padding."""
    return np.arange(steps)[None, :] >= (steps - lengths)[:, None]


def clean_missing(cases: Cases, policy: str, label_name: str) -> Cases:
    """Apply `data.missing` to NaN/inf inside sequences and to missing labels."""
    x = cases.x
    real = in_sequence(cases.lengths, x.shape[1])
    bad = ~np.isfinite(x) & real[:, :, None]
    bad_label = _missing_labels(cases.y)
    empty = cases.lengths == 0
    if not bad.any() and not bad_label.any() and not empty.any():
        return cases
    if policy == "error":
        _raise_first_problem(cases, bad, bad_label, empty, label_name)
    if bad_label.any() and policy == "fill":
        name = cases.case_names[np.argmax(bad_label)]
        raise DataError(
            f"{cases.where} has a missing {label_name} for sequence {name}, which cannot be "
            "filled; set data.missing to 'drop' or fix the labels."
        )
    if policy == "drop":
        # Whole sequences go: dropping single steps would silently close gaps in time.
        keep = ~bad.any(axis=(1, 2)) & ~bad_label & ~empty
        kept = cases.take(keep)
        steps = int(kept.lengths.max()) if keep.any() else 0
        return replace(kept, x=kept.x[:, kept.x.shape[1] - steps :])
    x = np.where(np.isinf(x), np.nan, x)
    x = _fill_along_time(x, real)
    still = np.isnan(x) & real[:, :, None]
    if still.any():
        c, _, f = np.argwhere(still)[0]
        raise DataError(
            f"{cases.where} has no value at all for feature {cases.feature_names[f]!r} in sequence "
            f"{cases.case_names[c]}, so it cannot be filled; set data.missing to 'drop' or fix the data."
        )
    return replace(cases, x=x)


def _missing_labels(y: np.ndarray) -> np.ndarray:
    if y.dtype.kind in "fc":
        flat = y.reshape(len(y), -1)
        return ~np.isfinite(flat).all(axis=1)
    if y.dtype.kind == "O":
        return np.array(
            [v is None or (isinstance(v, float) and np.isnan(v)) for v in y], dtype=bool
        )
    return np.zeros(len(y), dtype=bool)


def _raise_first_problem(cases, bad, bad_label, empty, label_name) -> None:
    fix = "fix the data or set data.missing to 'drop' (drops those sequences) or 'fill' (carries the last value forward)"
    if empty.any():
        name = cases.case_names[np.argmax(empty)]
        raise DataError(
            f"{cases.where}: sequence {name} has no time steps; remove it or set data.missing to 'drop'."
        )
    if bad.any():
        c, t, f = np.argwhere(bad)[0]
        step = t - (cases.x.shape[1] - cases.lengths[c])
        what = "an infinite" if np.isinf(cases.x[c, t, f]) else "a missing (NaN)"
        raise DataError(
            f"{cases.where} has {what} value in feature {cases.feature_names[f]!r} of sequence "
            f"{cases.case_names[c]} at step {step} ({int(bad.sum())} such values in all); {fix}."
        )
    name = cases.case_names[np.argmax(bad_label)]
    raise DataError(
        f"{cases.where} has a missing or infinite {label_name} for sequence {name} "
        f"({int(bad_label.sum())} in all); fix the labels or set data.missing to 'drop'."
    )


def _fill_along_time(x: np.ndarray, real: np.ndarray) -> np.ndarray:
    """Forward-fill NaN along time within each sequence, then back-fill its leading gap."""
    x = forward_fill(x)
    x = forward_fill(x[:, ::-1])[:, ::-1]
    # The back-fill also wrote into the padding in front of each sequence: clear it again.
    return np.where(real[:, :, None], x, np.nan)


def forward_fill(x: np.ndarray) -> np.ndarray:
    steps = np.arange(x.shape[1])[None, :, None]
    source = np.where(np.isnan(x), 0, steps)
    source = np.maximum.accumulate(source, axis=1)
    return np.take_along_axis(x, source, axis=1)


def encode_labels(y: np.ndarray, where: str) -> tuple[np.ndarray, tuple[str, ...]]:
    """Labels of any type -> int64 codes and the vocabulary as strings, in sorted order.

    Numbers sort numerically (so '10' comes after '9'), and whole floats print as integers,
    so labels 1 and 1.0 give the same vocabulary whichever file format carried them.
    """
    y = np.asarray(y)
    if y.dtype.kind == "f" and np.all(y == np.round(y)):
        y = y.astype(np.int64)
    if y.dtype.kind in "iub":
        values, codes = np.unique(y, return_inverse=True)
        order = np.arange(len(values))
    else:
        values, codes = np.unique(np.array([str(v) for v in y]), return_inverse=True)
        try:
            order = np.argsort([float(v) for v in values], kind="stable")
        except ValueError:
            order = np.arange(len(values))
    if len(values) < 2:
        raise DataError(
            f"{where} has only one class ({str(values[0])!r}); classification needs at least two, "
            "so check data.label_column."
        )
    rank = np.empty_like(order)
    rank[order] = np.arange(len(order))
    return rank[codes].astype(np.int64), tuple(str(values[i]) for i in order)


def channel_stats(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-channel mean and std over every axis but the last, ignoring NaN padding.

    A constant channel gets std 1 so standardising it gives zeros instead of NaN.
    """
    flat = values.reshape(-1, values.shape[-1]).astype(np.float64)
    finite = ~np.isnan(flat)
    count = finite.sum(axis=0)
    total = np.where(finite, flat, 0.0).sum(axis=0)
    mean = np.divide(total, count, out=np.zeros_like(total), where=count > 0)
    square = np.where(finite, (flat - mean) ** 2, 0.0).sum(axis=0)
    std = np.sqrt(np.divide(square, count, out=np.zeros_like(square), where=count > 0))
    std = np.where(std > 1e-8, std, 1.0)
    return mean.astype(np.float32), std.astype(np.float32)
