"""The task a refit trains on: the training and validation splits together.

After the search has used the validation split to choose configurations and epoch counts, the
chosen models can learn from those cases too (AutoKeras' final fit, AutoGluon's refit_full). The
statistics the model standardises with are fitted again on the larger split, the test split is
untouched, and the fingerprint stays the search's: it is the same data.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from search.data.preprocessing import channel_stats
from search.data.task import Task


def with_validation_in_training(task: Task) -> Task:
    """`task` with its validation cases appended to its training cases, statistics refitted.

    Forecasting windows stay in time order: the validation windows come after the training ones.
    The validation split is left in place, so code that reads it keeps working, but a refit must
    not select anything on it: those cases are now training data.
    """
    x = np.concatenate([task.x_train, task.x_val])
    y = np.concatenate([task.y_train, task.y_val])
    return trained_on(task, x, y)


def trained_on(task: Task, x_train: np.ndarray, y_train: np.ndarray, **fields) -> Task:
    """`task` with these training cases, its statistics (features, regression/forecasting
    targets) fitted on them alone; `fields` replace any other of its fields."""
    feature_mean, feature_std = channel_stats(x_train)
    head = task.head
    if head.target_mean is not None:
        target_mean, target_std = channel_stats(y_train)
        head = dataclasses.replace(
            head,
            target_mean=tuple(float(v) for v in target_mean),
            target_std=tuple(float(v) for v in target_std),
        )
    return dataclasses.replace(
        task,
        x_train=x_train,
        y_train=y_train,
        head=head,
        feature_mean=feature_mean,
        feature_std=feature_std,
        **fields,
    )
