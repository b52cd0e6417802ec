"""What a source delivers before splitting: sequences with labels, or one time-indexed table.

Every loader (built-in or file) turns its input into one of these two shapes, so splitting,
missing-value handling and standardisation are written once.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np


@dataclass(frozen=True, eq=False)
class Cases:
    """Labelled sequences (classification, regression), pre-padded to one length with NaN."""

    # float64 (cases, steps, features); case i's steps are the last lengths[i], NaN before them.
    # Pre-padding keeps every sequence's last step at the end, where a recurrent layer reads it.
    x: np.ndarray
    lengths: np.ndarray
    # (cases,) labels of any dtype (classification) or float (cases, targets) (regression).
    y: np.ndarray
    feature_names: tuple[str, ...]
    # How error messages name a case: the sequence id, or the row number in an array.
    case_names: np.ndarray
    # bool (cases,) where the source has its own test split, else None.
    is_test: np.ndarray | None
    # Where the data came from, for messages ("train.csv", "aeon:JapaneseVowels").
    where: str

    def take(self, keep: np.ndarray) -> Cases:
        """The cases selected by a boolean mask or index array, in order."""
        return replace(
            self,
            x=self.x[keep],
            lengths=self.lengths[keep],
            y=self.y[keep],
            case_names=self.case_names[keep],
            is_test=None if self.is_test is None else self.is_test[keep],
        )


@dataclass(frozen=True, eq=False)
class Series:
    """One time-indexed table for forecasting, rows in time order."""

    # float64 (steps, channels): the target columns first, then exogenous features.
    values: np.ndarray
    num_targets: int
    feature_names: tuple[str, ...]
    where: str
    # Steps held out for test when the spec does not say (airline: the last 12 months).
    default_test_size: int | float = 0.2
    default_window: int | None = None
    default_horizon: int | None = None
