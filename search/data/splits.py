"""Train/validation/test splits: seeded and stratified for cases, time-ordered for series."""

from __future__ import annotations

import numpy as np

from search.errors import DataError


def check_fraction(value, field: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0.0 < value < 1.0:
        raise DataError(
            f"{field} must be a fraction between 0 and 1, but got {value!r}; set it to, for example, 0.2."
        )
    return float(value)


def check_class_counts(
    codes: np.ndarray, classes: tuple[str, ...], needed: int, splits: str, where: str
) -> None:
    """Every class has enough cases to appear in each split a stratified split makes."""
    counts = np.bincount(codes, minlength=len(classes))
    few = np.flatnonzero(counts < needed)
    if few.size:
        c = few[0]
        raise DataError(
            f"Class {classes[c]!r} of {where} has {counts[c]} case(s), but {splits} needs at least "
            f"{needed} per class; add cases of that class or remove it from the data."
        )


def split_off(
    count: int,
    fraction: float,
    rng: np.random.Generator,
    *,
    codes: np.ndarray | None,
    keep_at_least: int,
    name: str,
    where: str,
) -> tuple[np.ndarray, np.ndarray]:
    """Indices (kept, held out), each sorted, holding out about `fraction` of `count` cases.

    With `codes` (classification) the split is stratified: every class gives at least one case
    to the held-out part and keeps at least `keep_at_least`, so each class appears in both.
    """
    groups = (
        [np.arange(count)]
        if codes is None
        else [np.flatnonzero(codes == c) for c in np.unique(codes)]
    )
    held = []
    for members in groups:
        if len(members) < keep_at_least + 1:
            raise DataError(
                f"{where} has only {len(members)} case(s) to split into training and {name}; "
                f"add cases or lower the {name} fraction."
            )
        size = int(np.clip(round(fraction * len(members)), 1, len(members) - keep_at_least))
        held.append(rng.permutation(members)[:size])
    held = np.sort(np.concatenate(held))
    kept = np.setdiff1d(np.arange(count), held)
    return kept, held


def series_bounds(
    steps: int, test_size, validation: float, window: int, horizon: int, where: str
) -> tuple[int, int]:
    """(train_end, val_end): train is [0, train_end), validation [train_end, val_end), test after.

    A window belongs to the split that holds all of its `horizon` target steps; its `window`
    input steps may look back into earlier splits (the past is known when forecasting) but a
    training window never sees a validation or test step, and no window sees a later split.
    """
    if isinstance(test_size, float) and 0.0 < test_size < 1.0:
        test = int(round(test_size * steps))
    elif isinstance(test_size, int) and not isinstance(test_size, bool) and test_size >= 1:
        test = test_size
    else:
        raise DataError(
            f"data.test_size must be a number of steps or a fraction in (0, 1) for forecasting, but got {test_size!r}."
        )
    before_test = steps - test
    val = int(round(validation * before_test))
    train = before_test - val
    if test < horizon or val < horizon:
        split, size = ("test", test) if test < horizon else ("validation", val)
        raise DataError(
            f"The {split} split of {where} has {size} step(s), fewer than data.horizon={horizon}, so it "
            f"holds no window; lower data.horizon or raise data.{'test_size' if split == 'test' else 'validation'}."
        )
    if train < window + horizon:
        raise DataError(
            f"{where} leaves {train} training step(s) (of {steps}) after the validation and test splits, "
            f"too short for data.window + data.horizon = {window} + {horizon}; use a longer series "
            "or lower data.window, data.horizon, data.validation or data.test_size."
        )
    return train, before_test


def windows(
    values: np.ndarray,
    num_targets: int,
    window: int,
    horizon: int,
    start: int,
    end: int,
    stride: int = 1,
) -> tuple[np.ndarray, np.ndarray]:
    """Windows whose target steps lie in [start, end): x (n, window, channels), y (n, horizon, targets).

    Window i forecasts steps [t, t + horizon) from steps [t - window, t), with
    t = max(start, window) + i * stride.
    """
    first = max(start, window)
    count = (end - horizon - first) // stride + 1
    if count < 1:
        return (np.empty((0, window, values.shape[1])), np.empty((0, horizon, num_targets)))
    # (origins, channels, window + horizon), a view: copied only for the windows kept.
    view = np.lib.stride_tricks.sliding_window_view(values, window + horizon, axis=0)
    view = view[first - window : first - window + (count - 1) * stride + 1 : stride]
    view = view.transpose(0, 2, 1)
    return view[:, :window].copy(), view[:, window:, :num_targets].copy()
