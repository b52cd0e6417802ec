"""k-fold cross-validation for small data: stratified, leak-free folds and a trial over them;
rolling origins for forecasting."""

from __future__ import annotations

import os
import shutil

import numpy as np
import pytest

from cells.architecture import Head
from search.data.folds import (
    AUTO_BELOW_CASES,
    AUTO_VALUES_PER_BUDGET_MINUTE,
    bags_fold_models,
    cross_validation_folds,
    pool_values,
    resolve_folds,
)
from search.data.preprocessing import channel_stats
from search.data.splits import series_bounds, windows
from search.data.task import Task
from search.errors import DataError
from search.trial import CHECKPOINT_FILE, train_trial
from tests.fakes import FakeTracker, offline_settings


def _task(kind="classification", cases=45, val=9, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(cases + 10, 6, 2)).astype("float32")
    if kind == "classification":
        y = np.arange(cases + 10) % 3
        head, classes = Head("classification", 3), ("a", "b", "c")
    else:
        y = rng.normal(size=(cases + 10, 1)).astype("float32")
        head, classes = Head("regression", 1, target_mean=(0.0,), target_std=(1.0,)), None
    train, held, test = slice(0, cases - val), slice(cases - val, cases), slice(cases, None)
    return Task(
        kind,
        x[train],
        y[train],
        x[held],
        y[held],
        x[test],
        y[test],
        head,
        np.zeros(2),
        np.ones(2),
        ("f", "g"),
        classes,
        "fp",
    )


def test_folds_partition_the_pool_stratified_and_leave_the_test_split_alone():
    task = _task()
    folds = cross_validation_folds(task, 3, seed=0)
    pool = np.concatenate([task.x_train, task.x_val])
    validated = np.concatenate([f.x_val for f in folds])
    # Every pool case is validated exactly once; the test cases never enter a fold.
    assert sorted(map(bytes, validated)) == sorted(map(bytes, pool))
    assert not {bytes(c) for c in task.x_test} & {
        bytes(c) for f in folds for c in np.concatenate([f.x_train, f.x_val])
    }
    for fold in folds:
        assert len(fold.x_train) + len(fold.x_val) == len(pool)
        assert not {bytes(c) for c in fold.x_val} & {bytes(c) for c in fold.x_train}
        assert np.bincount(fold.y_val, minlength=3).tolist() == [
            5,
            5,
            5,
        ]  # 15 of each class, 3 folds
        np.testing.assert_array_equal(fold.x_test, task.x_test)
        assert fold.fingerprint == task.fingerprint


def test_each_fold_standardises_features_by_its_own_training_cases_and_targets_by_the_pool():
    task = _task("regression")
    task = Task(**{**task.__dict__, "x_val": task.x_val + 100.0, "y_val": task.y_val + 50.0})
    pool_y = np.concatenate([task.y_train, task.y_val])
    for fold in cross_validation_folds(task, 4, seed=1):
        mean, std = channel_stats(fold.x_train)
        np.testing.assert_allclose(fold.feature_mean, mean)
        np.testing.assert_allclose(fold.feature_std, std)
        np.testing.assert_allclose(fold.head.target_mean, channel_stats(pool_y)[0])


def test_unit_scaled_features_give_a_model_without_statistics_what_the_fold_gives_its_own():
    import cells
    from search.data.folds import unit_scaled

    fold = cross_validation_folds(_task("regression"), 3, seed=0)[0]
    fold.x_val[0, :2] = np.nan  # padding stays padding
    scaled = unit_scaled(fold)
    assert np.isnan(scaled.x_val[0, :2]).all() and not np.isnan(scaled.x_val[0, 2:]).any()
    np.testing.assert_array_equal(scaled.feature_mean, 0.0)
    np.testing.assert_array_equal(scaled.feature_std, 1.0)
    arch = cells.Architecture(units=4)
    own = cells.build_model(
        arch,
        fold.input_shape,
        fold.head,
        feature_mean=fold.feature_mean,
        feature_std=fold.feature_std,
    )
    shared = cells.build_model(
        arch,
        fold.input_shape,
        fold.head,
        feature_mean=scaled.feature_mean,
        feature_std=scaled.feature_std,
    )
    shared.set_weights(own.get_weights())
    np.testing.assert_allclose(
        np.asarray(shared(scaled.x_val)), np.asarray(own(fold.x_val)), rtol=1e-5, atol=1e-5
    )


def test_auto_cross_validates_only_where_one_validation_split_is_too_small_to_rank_by():
    assert resolve_folds(None, _task(val=9)) == 5
    assert resolve_folds(None, _task(cases=300, val=AUTO_BELOW_CASES)) == 1
    assert resolve_folds(1, _task(val=9)) == 1 and resolve_folds(3, _task(cases=300, val=60)) == 3
    # Folds are stratified: no more folds than the smallest class has cases.
    tiny = _task(cases=12, val=3)
    assert resolve_folds(None, tiny) == 4


def test_auto_keeps_one_holdout_where_the_budget_cannot_afford_the_fold_models():
    small = _task(val=9)
    values = pool_values(small)
    affords = values / AUTO_VALUES_PER_BUDGET_MINUTE  # the budget minutes that just afford it
    assert resolve_folds(None, small, budget_minutes=affords) == 5
    assert resolve_folds(None, small, budget_minutes=affords * 0.9) == 1
    assert resolve_folds(None, small, budget_minutes=None) == 5  # no budget: always affordable
    assert resolve_folds(4, small, budget_minutes=affords * 0.1) == 4  # asked for: kept
    assert values == 45 * 6 * 2  # training + validation cases x steps x channels


@pytest.mark.slow
def test_a_cross_validated_trial_reports_the_mean_of_its_folds_and_checkpoints_their_average():
    import keras

    from cells.loading import load_model

    tracker, reports = FakeTracker(), []
    kept = {}

    def report(metrics, checkpoint_dir):
        reports.append(dict(metrics))
        if checkpoint_dir:
            kept["model"] = load_model(os.path.join(checkpoint_dir, CHECKPOINT_FILE))

    settings = offline_settings(objective="val_accuracy", mode="max", max_epochs=3, folds=3)
    task = _task()
    # Features far from 0 and 1: each fold model must carry its own statistics.
    task = Task(
        **{
            **task.__dict__,
            **{f"x_{s}": getattr(task, f"x_{s}") * 3.0 + 5.0 for s in ("train", "val", "test")},
        }
    )
    train_trial(
        {"cell": "gru", "units": 4, "learning_rate": 0.01, "trial_number": "2"},
        task,
        settings,
        report,
        tracker,
    )
    assert [m["epoch"] for m in reports] == [1, 2, 3] and tracker.params["folds"] == 3
    # Mean of three folds' accuracies on 15 validation cases each: a multiple of 1/45.
    assert all(abs(m["val_accuracy"] * 45 - round(m["val_accuracy"] * 45)) < 1e-4 for m in reports)
    model = kept["model"]
    members = [layer for layer in model.layers if isinstance(layer, keras.Model)]
    assert len(members) == 3  # the bagged fold models
    probabilities = np.asarray(model.predict(task.x_test, verbose=0))
    expected = np.mean([np.asarray(m.predict(task.x_test, verbose=0)) for m in members], axis=0)
    np.testing.assert_allclose(probabilities, expected, atol=1e-6)
    # The checkpoint holds each fold's model as it was at the best epoch: on its own validation
    # cases, from raw inputs, the fold models give the loss that epoch reported.
    best = max(reports, key=lambda m: (m["val_accuracy"], -m["val_loss"]))
    losses = []
    for member, fold in zip(members, cross_validation_folds(task, 3, seed=0), strict=True):
        p = np.asarray(member.predict(fold.x_val, verbose=0))
        losses.append(-np.mean(np.log(p[np.arange(len(fold.y_val)), fold.y_val])))
    assert np.mean(losses) == pytest.approx(best["val_loss"], rel=1e-4)


def _best_checkpoint(folder, task, settings, values=None) -> tuple[str, list[dict]]:
    """(the best epoch's model.keras, copied with its folder; every epoch's reported metrics)
    of a small GRU trial (or of `values`)."""
    kept, reports = folder / "best", []

    def report(metrics, checkpoint_dir):
        reports.append(dict(metrics))
        if checkpoint_dir:
            shutil.copytree(checkpoint_dir, kept, dirs_exist_ok=True)

    values = values or {"cell": "gru", "units": 4, "learning_rate": 0.01, "trial_number": "1"}
    train_trial(values, task, settings, report, FakeTracker())
    return str(kept / CHECKPOINT_FILE), reports


@pytest.mark.slow
def test_a_cross_validated_trial_saves_its_fold_models_out_of_fold_predictions(tmp_path):
    from search.data.metrics import classification_metrics
    from search.ensemble_selection import held_out_predictions
    from search.trial import HELD_OUT_FILE

    settings = offline_settings(objective="val_accuracy", mode="max", max_epochs=3, folds=3)
    task = _task()
    checkpoint, reports = _best_checkpoint(tmp_path, task, settings)
    (saved,), y = held_out_predictions([checkpoint], task, folds=3, seed=0)
    # Every case of the pool once, each predicted by the fold model validated on it: the
    # best epoch's reported fold means (three folds of 15 cases: the pool's mean).
    assert np.array_equal(np.sort(y), np.sort(np.concatenate([task.y_train, task.y_val])))
    best = max(reports, key=lambda m: (m["val_accuracy"], -m["val_loss"]))
    metrics = classification_metrics(y, saved)
    assert metrics["accuracy"] == pytest.approx(best["val_accuracy"], abs=1e-6)
    assert metrics["log_loss"] == pytest.approx(best["val_loss"], rel=1e-4)
    # Without the saved file (an older checkpoint), the checkpoint's fold models predict the same.
    (tmp_path / "best" / HELD_OUT_FILE).unlink()
    (predicted,), _ = held_out_predictions([checkpoint], task, folds=3, seed=0)
    np.testing.assert_allclose(predicted, saved, atol=1e-5)


@pytest.mark.slow
def test_a_holdout_trial_saves_its_validation_predictions(tmp_path):
    from search.ensemble_selection import held_out_predictions

    settings = offline_settings(objective="val_loss", mode="min", max_epochs=3)
    task = _task(kind="regression")
    checkpoint, reports = _best_checkpoint(tmp_path, task, settings)
    (saved,), y = held_out_predictions([checkpoint], task, folds=1, seed=0)
    assert y is task.y_val
    best = min(m["val_loss"] for m in reports)
    assert np.mean((saved.reshape(y.shape) - y) ** 2) == pytest.approx(best, rel=1e-4)


def test_a_cross_validated_minirocket_trial_starts_each_fold_from_its_own_training_cases(
    monkeypatch,
):
    import cells.minirocket

    seen, reports = [], []
    fit = cells.minirocket.start_at_ridge

    def recording(model, x, y, **kwargs):
        seen.append(x.copy())
        return fit(model, x, y, **kwargs)

    monkeypatch.setattr(cells.minirocket, "start_at_ridge", recording)
    settings = offline_settings(objective="val_accuracy", mode="max", max_epochs=1, folds=3)
    task = _task(cases=30, val=6)
    train_trial(
        {"cell": "gru", "units": 4, "minirocket": True, "trial_number": "1"},
        task,
        settings,
        lambda metrics, checkpoint: reports.append(dict(metrics)),
        FakeTracker(),
    )
    folds = cross_validation_folds(task, 3, seed=0)
    assert len(seen) == 3  # one ridge start per fold, none over the whole pool
    for x, fold in zip(seen, folds, strict=True):
        # Each fold's start saw exactly its training cases (unit-scaled), none of its validation.
        scaled = (fold.x_train - fold.feature_mean) / fold.feature_std
        np.testing.assert_allclose(x, scaled, rtol=1e-5, atol=1e-5)
    # The starts, scored on their folds' validation cases, are epoch 0.
    assert [m["epoch"] for m in reports] == [0, 1]


def _series_task(steps=120, window=8, horizon=3, validation=0.2, values=None) -> Task:
    """Forecasting windows of `values` (steps,), by default a series whose value at step t is
    t, so that a target names its step."""
    values = np.arange(steps) if values is None else values
    values = values.astype("float32")[:, None]
    train_end, val_end = series_bounds(steps, 0.1, validation, window, horizon, "the series")
    parts = [
        windows(values, 1, window, horizon, start, end)
        for start, end in ((0, train_end), (train_end, val_end), (val_end, steps))
    ]
    (x_train, y_train), (x_val, y_val), (x_test, y_test) = parts
    head = Head("forecasting", 1, horizon=horizon, target_mean=(0.0,), target_std=(1.0,))
    mean, std = channel_stats(x_train)
    return Task(
        "forecasting", x_train, y_train, x_val, y_val, x_test, y_test, head, mean, std, ("v",),
        None, "fp",
    )  # fmt: skip


def test_rolling_origins_train_each_fold_only_on_targets_before_its_validation_block():
    task = _series_task(horizon=3)
    folds = cross_validation_folds(task, 3, seed=0)
    # The value of a target is its step: every training target precedes every validation one.
    for fold in folds:
        assert fold.y_train.max() < fold.y_val.min()
        # Its statistics are its own training windows', not the pool's.
        np.testing.assert_allclose(fold.feature_mean, channel_stats(fold.x_train)[0])
        np.testing.assert_array_equal(fold.x_test, task.x_test)
    # The origins move forward in time, each fold training on more of the past; the validation
    # blocks (by the first step each window forecasts) follow one another, before the test split.
    assert [len(f.x_train) for f in folds] == sorted(len(f.x_train) for f in folds)
    origins = [f.y_val[:, 0, 0] for f in folds]
    assert all(a.max() < b.min() for a, b in zip(origins, origins[1:], strict=False))
    assert np.array_equal(np.sort(np.concatenate(origins))[-len(task.y_val) :], task.y_val[:, 0, 0])
    assert folds[-1].y_val.max() < task.y_test.min()
    assert not bags_fold_models(task) and bags_fold_models(_task())


def test_auto_keeps_one_time_ordered_holdout_for_forecasting_and_k_origins_are_asked_for():
    task = _series_task()
    assert len(task.x_val) < AUTO_BELOW_CASES  # classification would cross-validate here
    assert resolve_folds(None, task) == 1  # measured: see search.data.folds
    assert resolve_folds(1, task) == 1 and resolve_folds(5, task) == 5


def test_more_rolling_origins_than_the_windows_hold_is_a_clear_error():
    task = _series_task(steps=30)  # 15 training + validation windows
    with pytest.raises(DataError, match="too few for 20 rolling origins .*lower search.folds"):
        resolve_folds(20, task)


@pytest.mark.slow
def test_a_trial_at_rolling_origins_starts_each_fold_at_its_own_linear_fit_and_reports_their_mean(
    tmp_path,
):
    from search.ensemble_selection import held_out_predictions

    # A noisy sine: the AR start has something to fit.
    steps = np.arange(160)
    sine = np.sin(steps * 0.4) + np.random.default_rng(0).normal(scale=0.1, size=160)
    task = _series_task(steps=160, window=12, horizon=1, values=sine)
    settings = offline_settings(max_epochs=2, folds=3)
    values = {"cell": "gru", "units": 4, "ar_highway": 4, "trial_number": "1"}
    checkpoint, reports = _best_checkpoint(tmp_path, task, settings, values)
    # Epoch 0 is the linear start of every fold, then each epoch trains the three in turn.
    assert [m["epoch"] for m in reports] == [0, 1, 2]
    (held_out,), y = held_out_predictions([checkpoint], task, folds=3, seed=0)
    folds = cross_validation_folds(task, 3, seed=0)
    np.testing.assert_array_equal(y, np.concatenate([f.y_val for f in folds]))
    # The out-of-fold predictions are the best epoch's: their per-fold MSE averages to its loss.
    best = min(reports, key=lambda m: m["val_loss"])
    bounds = np.cumsum([0] + [len(f.y_val) for f in folds])
    errors = [
        np.mean((held_out[a:b].reshape(-1) - y[a:b].reshape(-1)) ** 2)
        for a, b in zip(bounds, bounds[1:], strict=False)
    ]
    assert np.mean(errors) == pytest.approx(best["val_loss"], rel=1e-4)
