"""The prepared learning problem handed to every trial."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from cells.architecture import Head, HeadKind


@dataclass(frozen=True, eq=False)
class Task:
    """Train/validation/test arrays in raw units, plus what the model needs to take raw inputs.

    x arrays are float32 (cases, steps, features); variable-length sequences are padded with NaN,
    which the model masks. y is int64 class indices (classification), float32 (cases, targets)
    (regression) or float32 (cases, horizon, targets) (forecasting), always in original units.
    """

    kind: HeadKind
    x_train: np.ndarray
    y_train: np.ndarray
    x_val: np.ndarray
    y_val: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    head: Head
    # Per-feature statistics fitted on the training split only (NaN padding ignored).
    feature_mean: np.ndarray
    feature_std: np.ndarray
    feature_names: tuple[str, ...]
    # Class labels in index order (classification only): the model's label vocabulary.
    classes: tuple[str, ...] | None
    # Hash of the prepared arrays and preprocessing settings: equal fingerprints, same data.
    fingerprint: str

    @property
    def input_shape(self) -> tuple[int | None, int]:
        """(steps, features); steps is None when sequences vary in length."""
        steps = None if np.isnan(self.x_train).all(axis=-1).any() else self.x_train.shape[1]
        return (steps, self.x_train.shape[2])
