"""The refit: training + validation merged with refitted statistics, and one refit's training."""

from __future__ import annotations

import io
import zipfile

import keras
import numpy as np
import pytest

from cells.architecture import Head
from search.data.preprocessing import channel_stats
from search.data.refit import with_validation_in_training
from search.data.task import Task
from search.refit import Refit, epochs_of, train_refit
from search.trial import TrialFailed
from tests.fakes import FakeTracker
from tests.search.test_trial import _settings, _task


def _regression_task():
    rng = np.random.default_rng(1)
    x = rng.normal(3.0, 2.0, size=(50, 5, 3)).astype("float32")
    x[:4, :2] = np.nan  # pre-padding of shorter sequences
    y = rng.normal(10.0, 4.0, size=(50, 2)).astype("float32")
    mean, std = channel_stats(x[:30])
    target_mean, target_std = channel_stats(y[:30])
    head = Head(
        "regression",
        2,
        target_mean=tuple(map(float, target_mean)),
        target_std=tuple(map(float, target_std)),
    )
    return Task(
        "regression",
        x[:30],
        y[:30],
        x[30:40],
        y[30:40],
        x[40:],
        y[40:],
        head,
        mean,
        std,
        ("a", "b", "c"),
        None,
        "fp-r",
    )


def test_validation_cases_join_training_and_statistics_are_refitted():
    task = _regression_task()
    merged = with_validation_in_training(task)
    np.testing.assert_array_equal(merged.x_train, np.concatenate([task.x_train, task.x_val]))
    np.testing.assert_array_equal(merged.y_train, np.concatenate([task.y_train, task.y_val]))
    # Independent reference: NaN-aware statistics over all 40 cases.
    flat = merged.x_train.reshape(-1, 3)
    np.testing.assert_allclose(merged.feature_mean, np.nanmean(flat, axis=0), rtol=1e-5)
    np.testing.assert_allclose(merged.feature_std, np.nanstd(flat, axis=0), rtol=1e-5)
    np.testing.assert_allclose(merged.head.target_mean, merged.y_train.mean(axis=0), rtol=1e-5)
    np.testing.assert_allclose(merged.head.target_std, merged.y_train.std(axis=0), rtol=1e-5)
    assert not np.allclose(merged.feature_mean, task.feature_mean)
    # The test split and the data's identity do not change.
    assert merged.x_test is task.x_test and merged.y_test is task.y_test
    assert merged.fingerprint == task.fingerprint and merged.input_shape == task.input_shape


def test_classification_head_has_no_target_statistics_to_refit():
    task = _task()
    merged = with_validation_in_training(task)
    assert merged.head == task.head and len(merged.x_train) == 50


@pytest.mark.slow
def test_a_refit_trains_its_epochs_on_the_merged_data_and_returns_a_loadable_model(tmp_path):
    task = with_validation_in_training(_task())
    tracker = FakeTracker()
    values = {"cell": "gru", "units": 8, "learning_rate": 0.01, "batch_size": 16}
    data = train_refit(values, "3", 3, task, _settings(), tracker)
    assert tracker.params["epochs"] == 3 and tracker.params["units"] == 8
    assert [step for step, _ in tracker.metrics] == [1, 2, 3]
    assert all(
        "val_loss" not in metrics for _, metrics in tracker.metrics
    )  # no validation split left
    assert tracker.ended == [("FINISHED", None)]
    assert zipfile.is_zipfile(io.BytesIO(data))
    path = _write(data, tmp_path)
    model = keras.saving.load_model(path, safe_mode=True)
    assert model.predict(task.x_test, verbose=0).shape == (len(task.x_test), 2)


@pytest.mark.slow
def test_same_number_same_initial_weights_so_a_refit_is_reproducible(tmp_path):
    task = with_validation_in_training(_task())
    values = {"cell": "mgu", "units": 8, "learning_rate": 0.01, "batch_size": 16}
    first = keras.saving.load_model(
        _write(train_refit(values, "2", 2, task, _settings(), FakeTracker()), tmp_path, "a.keras")
    )
    second = keras.saving.load_model(
        _write(train_refit(values, "2", 2, task, _settings(), FakeTracker()), tmp_path, "b.keras")
    )
    np.testing.assert_allclose(
        first.predict(task.x_test, verbose=0), second.predict(task.x_test, verbose=0), atol=1e-6
    )


@pytest.mark.slow
def test_a_refit_whose_loss_becomes_nan_fails_with_its_reason():
    task = with_validation_in_training(_task())
    x = task.x_train.copy()
    x[0, 0, 0] = np.inf  # standardised to inf: the weights, then the loss, become NaN
    bad = Task(
        task.kind,
        x,
        task.y_train,
        task.x_val,
        task.y_val,
        task.x_test,
        task.y_test,
        task.head,
        task.feature_mean,
        task.feature_std,
        task.feature_names,
        task.classes,
        task.fingerprint,
    )
    tracker = FakeTracker()
    with pytest.raises(TrialFailed, match="the training loss became nan at epoch"):
        train_refit(
            {"cell": "gru", "units": 4, "batch_size": 64}, "1", 2, bad, _settings(), tracker
        )
    assert tracker.ended[-1][0] == "FAILED" and "loss became nan" in tracker.ended[-1][1]


def test_refit_epochs_are_the_trials_best_epoch():
    class Member:
        best_epoch = 17

    assert epochs_of(Member(), _settings(max_epochs=60)) == 17
    Member.best_epoch = None
    assert epochs_of(Member(), _settings(max_epochs=60)) == 60
    Member.best_epoch = 0  # its starting weights (a least-squares AR start) were best
    assert epochs_of(Member(), _settings(max_epochs=60)) == 0
    assert Refit("1", 3, "m.keras").succeeded and not Refit("1", 3, "ckpt", "boom").succeeded


def _write(data: bytes, folder, name: str = "model.keras") -> str:
    path = folder / name
    path.write_bytes(data)
    return str(path)


def test_a_refit_of_0_epochs_is_the_least_squares_start_on_the_merged_windows(tmp_path):
    from cells.loading import load_model
    from tests.search.test_trial import _forecasting_task

    task = with_validation_in_training(_forecasting_task())
    values = {"cell": "gru", "units": 4, "ar_highway": 4}
    model = load_model(
        _write(train_refit(values, "1", 0, task, _settings(), FakeTracker()), tmp_path)
    )
    forecast = np.asarray(model.predict(task.x_test, verbose=0))
    assert np.mean((forecast - task.y_test) ** 2) < 0.1  # an AR fit of a noisy (0.1) sine


def test_a_trial_best_at_its_epoch_0_start_keeps_best_epoch_0_for_its_refit():
    from search.tune import _make_outcome

    metrics = {"best_objective": 0.5, "best_tiebreak": float("nan"), "best_epoch": 0.0, "epoch": 3}
    outcome = _make_outcome(
        {"units": 4, "trial_number": "7"}, metrics, [metrics], None, None, "val_loss"
    )
    assert outcome.best_epoch == 0 and epochs_of(outcome, _settings(max_epochs=60)) == 0
    unreported = _make_outcome(
        {"trial_number": "8"}, {**metrics, "best_epoch": float("nan")}, [], None, None, "val_loss"
    )
    assert unreported.best_epoch is None


def test_a_trial_outcome_keeps_the_time_of_its_first_trained_epoch_for_the_refit_estimate():
    from search.tune import _make_outcome

    rows = [
        {"epoch": 0, "val_loss": 0.9, "time_total_s": 1.5},  # a fitted start's own report
        {"epoch": 1, "val_loss": 0.6, "time_total_s": 7.0},  # building, tracing, one epoch
        {"epoch": 2, "val_loss": 0.5, "time_total_s": 7.4},
    ]
    metrics = {**rows[-1], "best_objective": 0.5, "best_epoch": 2.0}
    outcome = _make_outcome({"trial_number": "3"}, metrics, rows, None, None, "val_loss")
    assert outcome.first_epoch_s == 7.0 and outcome.seconds == 7.4
    # Rows from a retried trial start after its checkpoint: its first epoch is not known.
    retried = _make_outcome({"trial_number": "4"}, metrics, rows[2:], None, None, "val_loss")
    assert retried.first_epoch_s is None


def test_a_refit_after_rolling_origins_is_timed_against_every_fold_a_trial_epoch_trained():
    from search.data.folds import cross_validation_folds
    from search.refit import refit_growth
    from tests.search.data.test_data_folds import _series_task

    task = _series_task()
    pool = len(task.x_train) + len(task.x_val)
    assert refit_growth(task, _settings(folds=1)) == pool / len(task.x_train)
    # A trial epoch trains the three origins' models in turn: the refit's one epoch on the
    # pool takes less than that, not 1.25x a holdout epoch.
    folds = cross_validation_folds(task, 3, seed=0)
    trained = sum(len(f.x_train) for f in folds)
    assert trained > pool and refit_growth(task, _settings(folds=3)) == pool / trained
