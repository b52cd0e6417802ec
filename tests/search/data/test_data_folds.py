"""k-fold cross-validation for small data: stratified, leak-free folds and a trial over them."""

from __future__ import annotations

import os
import shutil

import numpy as np
import pytest

from cells.architecture import Head
from search.data.folds import (
    AUTO_BELOW_CASES,
    AUTO_VALUES_PER_BUDGET_MINUTE,
    cross_validation_folds,
    pool_values,
    resolve_folds,
)
from search.data.preprocessing import channel_stats
from search.data.task import Task
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
    forecasting = Task(**{**_task("regression").__dict__, "kind": "forecasting"})
    assert resolve_folds(None, forecasting) == 1


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


def _best_checkpoint(folder, task, settings) -> tuple[str, list[dict]]:
    """(the best epoch's model.keras, copied with its folder; every epoch's reported metrics)
    of a small GRU trial."""
    kept, reports = folder / "best", []

    def report(metrics, checkpoint_dir):
        reports.append(dict(metrics))
        if checkpoint_dir:
            shutil.copytree(checkpoint_dir, kept, dirs_exist_ok=True)

    values = {"cell": "gru", "units": 4, "learning_rate": 0.01, "trial_number": "1"}
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
