"""k-fold cross-validation of a trial's objective, for data too small to rank by one holdout.

With 36 training series a 20 % validation split holds 7 cases: validation accuracy moves in steps
of 1/7, and the search picks noise. With `k` folds every case of the training + validation pool
is validated on once, by a model that did not train on it; a trial's objective is the mean over
its folds, and its model is the average of its fold models (bagging, as AutoGluon does).

Folds are stratified by class for classification and shuffled with the search's seed; the test
split is never part of them. Each fold's feature statistics are fitted on its training cases
only. A regression target's mean and std, which only set the output layer's offset and scale
(its bias and weights learn them anyway), are the whole pool's, so that one compiled model can
train every fold in turn on `unit_scaled` features (search.trial). Forecasting windows keep one
time-ordered holdout: a fold that trains on the future of its validation windows would leak.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from search.data.refit import trained_on
from search.data.task import Task

# `search.folds: auto` cross-validates when the validation split holds fewer cases than this
# (a rank by accuracy would move in steps of more than 2 %).
AUTO_BELOW_CASES = 50
AUTO_FOLDS = 5
# ... and when the time budget affords k fold models per trial: at most this many values
# (cases x steps x channels of training + validation) per budget minute. A k-fold trial costs
# k holdout trials; on 2 cores an FCN-64 + GRU-64 trial trains ~30,000 values a second, so a
# 10-minute budget's trials (8 minutes, 2 at once) give 5 fold models of OSULeaf (85,000
# values) about 24 epochs each. On inner splits of the training data, 5 fold models x 24 epochs
# averaged against one model x 120 epochs: OSULeaf 0.82 vs 0.88, ACSF1 0.64 vs 0.64
# (benchmarks/fold_or_holdout.py).
AUTO_VALUES_PER_BUDGET_MINUTE = 5_000


def resolve_folds(requested: int | None, task: Task, budget_minutes: float | None = None) -> int:
    """The folds a search uses: `requested`, or for None ("auto") AUTO_FOLDS on data too small
    to rank by one holdout, where `budget_minutes` (None: no budget) affords them."""
    if requested is not None:
        return requested
    if task.kind == "forecasting" or len(task.x_val) >= AUTO_BELOW_CASES:
        return 1
    if (
        budget_minutes is not None
        and pool_values(task) > AUTO_VALUES_PER_BUDGET_MINUTE * budget_minutes
    ):
        return 1
    # A stratified fold needs every class in it at least once: at most the smallest class count.
    if task.kind == "classification":
        smallest = np.bincount(np.concatenate([task.y_train, task.y_val])).min()
        return int(min(AUTO_FOLDS, smallest)) if smallest >= 2 else 1
    return AUTO_FOLDS


def pool_values(task: Task) -> int:
    """Values (cases x steps x channels) of the training + validation pool: a trial's cost."""
    steps, channels = task.x_train.shape[1:]
    return (len(task.x_train) + len(task.x_val)) * steps * channels


def cross_validation_folds(task: Task, folds: int, seed: int) -> list[Task]:
    """`folds` Tasks over the training + validation pool of `task`, each validated on its own part."""
    from sklearn.model_selection import KFold, StratifiedKFold

    x = np.concatenate([task.x_train, task.x_val])
    y = np.concatenate([task.y_train, task.y_val])
    if task.kind == "classification":
        splitter = StratifiedKFold(folds, shuffle=True, random_state=seed % 2**32)
        parts = splitter.split(x, y)
    else:
        parts = KFold(folds, shuffle=True, random_state=seed % 2**32).split(x)
    pool_head = trained_on(task, x, y).head
    return [
        dataclasses.replace(
            trained_on(task, x[train], y[train], x_val=x[val], y_val=y[val]), head=pool_head
        )
        for train, val in parts
    ]


def unit_scaled(fold: Task) -> Task:
    """`fold` with its features standardised by its own statistics, which become 0 and 1: the
    same inputs for a model built with statistics 0 and 1 as `fold`'s statistics give a model
    built with them (NaN padding stays NaN), so every fold can share one such model."""

    def scaled(x: np.ndarray) -> np.ndarray:
        return ((x - fold.feature_mean) / fold.feature_std).astype(x.dtype)

    return dataclasses.replace(
        fold,
        x_train=scaled(fold.x_train),
        x_val=scaled(fold.x_val),
        x_test=scaled(fold.x_test),
        feature_mean=np.zeros_like(fold.feature_mean),
        feature_std=np.ones_like(fold.feature_std),
    )
