"""k-fold cross-validation of a trial's objective, for data too small to rank by one holdout.

With 36 training series a 20 % validation split holds 7 cases: validation accuracy moves in steps
of 1/7, and the search picks noise. With `k` folds every case of the training + validation pool
is validated on once, by a model that did not train on it; a trial's objective is the mean over
its folds, and its model is the average of its fold models (bagging, as AutoGluon does).

Folds are stratified by class for classification and shuffled with the search's seed; the test
split is never part of them. Each fold's feature statistics are fitted on its training cases
only. A regression target's mean and std, which only set the output layer's offset and scale
(its bias and weights learn them anyway), are the whole pool's, so that one compiled model can
train every fold in turn on `unit_scaled` features (search.trial).

Forecasting with `folds: k` validates at k rolling origins instead (Tashman 2000, "Out-of-sample
tests of forecasting accuracy"; AutoGluon-TimeSeries' `num_val_windows`): the pool is cut into k + 1
blocks in time order, and fold i trains on the windows before block i + 1 and is validated on it
(scikit-learn's TimeSeriesSplit), so no fold trains on its validation windows' future. Each fold
model has seen only the past of its origin, so with `refit: true` (the default) the registered
model is not their average but the refit on the whole pool (search.refit).
"""

from __future__ import annotations

import dataclasses

import numpy as np

from search.data.refit import trained_on
from search.data.task import Task
from search.errors import DataError

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
# Forecasting's `auto` keeps one holdout. Rolling origins (`folds: 3`) lost to it on all four
# series outside the suite's table it was measured on (benchmarks/suite.py, 5-minute budgets,
# 2026-12-07; test MSE, holdout against 3 origins): PBS 0.200 vs 0.299, Solar 5.0e-4 vs 5.7e-4,
# the inner splits of Lynx 1.17e6 vs 1.49e6 and of Airline 164 vs 548. A 3-origin trial costs
# about 1.5 holdout trials (the folds train on 1/4, 2/4 and 3/4 of the windows): the four
# searches ran 93 trials against 158, and the early origins rank configurations by how they do
# on far less data than the registered refit has.


def resolve_folds(requested: int | None, task: Task, budget_minutes: float | None = None) -> int:
    """The folds a search uses: `requested`, or for None ("auto") AUTO_FOLDS on data too small
    to rank by one holdout, where `budget_minutes` (None: no budget) affords them."""
    if requested is not None:
        if requested > 1 and task.kind == "forecasting":  # a clear error now, not in a trial
            _rolling_origins(len(task.x_train) + len(task.x_val), requested, task.head.horizon)
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


def bags_fold_models(task: Task) -> bool:
    """Whether a cross-validated trial's model is the average of its fold models, which between
    them trained on every case; rolling-origin folds did not see the latest windows (refit)."""
    return task.kind != "forecasting"


def pool_values(task: Task) -> int:
    """Values (cases x steps x channels) of the training + validation pool: a trial's cost."""
    steps, channels = task.x_train.shape[1:]
    return (len(task.x_train) + len(task.x_val)) * steps * channels


def cross_validation_folds(task: Task, folds: int, seed: int) -> list[Task]:
    """`folds` Tasks over the training + validation pool of `task`, each validated on its own part."""
    from sklearn.model_selection import KFold, StratifiedKFold

    x = np.concatenate([task.x_train, task.x_val])
    y = np.concatenate([task.y_train, task.y_val])
    if task.kind == "forecasting":
        parts = _rolling_origins(len(x), folds, task.head.horizon)
    elif task.kind == "classification":
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


def _rolling_origins(windows: int, folds: int, horizon: int) -> list[tuple[np.ndarray, np.ndarray]]:
    """(training, validation) window indices of `folds` rolling origins over `windows` in time
    order. A window's targets are `horizon` steps, so the horizon - 1 windows before each
    validation block are left out: their targets overlap the block's (at stride 1; a larger
    stride overlaps less)."""
    from sklearn.model_selection import TimeSeriesSplit

    splitter = TimeSeriesSplit(folds, gap=horizon - 1)
    try:
        return list(splitter.split(np.empty((windows, 1))))
    except ValueError as error:
        raise DataError(
            f"{windows} training + validation windows are too few for {folds} rolling origins "
            f"(horizon {horizon}); lower search.folds or use a longer series ({error})."
        ) from error


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
