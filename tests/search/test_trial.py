"""One trial's training outside Ray: per-epoch reports, best-epoch checkpoint, patience, failures."""

from __future__ import annotations

import math
import os

import numpy as np
import pytest

from cells.architecture import Head
from search.data.task import Task
from search.trial import CHECKPOINT_FILE, TrialFailed, sort_key, train_trial
from tests.fakes import FakeTracker, offline_settings

pytestmark = pytest.mark.slow


def _task(seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(60, 6, 2)).astype("float32")
    y = (x[:, :, 0].sum(axis=1) > 0).astype("int64")
    return Task(
        "classification",
        x[:40],
        y[:40],
        x[40:50],
        y[40:50],
        x[50:],
        y[50:],
        Head("classification", 2),
        np.zeros(2, "float32"),
        np.ones(2, "float32"),
        ("a", "b"),
        ("0", "1"),
        "fp",
    )


def _settings(**overrides):
    return offline_settings(
        **{"objective": "val_accuracy", "mode": "max", "max_epochs": 4, **overrides}
    )


def test_reports_every_epoch_and_checkpoints_only_improvements():
    tracker, reports = FakeTracker(), []

    def report(metrics, checkpoint_dir):
        saved = checkpoint_dir is not None and os.path.isfile(
            os.path.join(checkpoint_dir, CHECKPOINT_FILE)
        )
        reports.append((dict(metrics), saved))

    train_trial(
        {"cell": "gru", "units": 4, "learning_rate": 0.01, "trial_number": "3"},
        _task(),
        _settings(),
        report,
        tracker,
    )
    assert [m["epoch"] for m, _ in reports] == [1, 2, 3, 4]
    assert tracker.ended == [("FINISHED", None)]
    assert (
        tracker.params["units"] == 4
        and tracker.params["parameter_count"] > 0
        and tracker.tags["cell"] == "gru"
    )
    assert [step for step, _ in tracker.metrics] == [1, 2, 3, 4]
    best_key = None
    for metrics, saved in reports:
        key = sort_key(metrics["val_accuracy"], metrics["val_loss"], "max", "min")
        assert saved == (best_key is None or key < best_key)
        best_key = key if best_key is None or key < best_key else best_key
        assert metrics["trial_number"] == "3"
    last = reports[-1][0]
    best_epoch = last["best_epoch"]
    assert last["best_objective"] == reports[best_epoch - 1][0]["val_accuracy"]


def test_each_epoch_logs_the_best_epoch_so_the_runs_table_sorts_by_it():
    tracker, reports = FakeTracker(), []
    train_trial(
        {"cell": "gru", "units": 4, "learning_rate": 0.05, "trial_number": "1"},
        _task(),
        _settings(max_epochs=6),
        lambda m, c: reports.append(dict(m)),
        tracker,
    )
    for (step, logged), report in zip(tracker.metrics, reports, strict=True):
        best = reports[report["best_epoch"] - 1]
        assert logged["epoch"] == step == report["epoch"]
        assert (logged["best_epoch"], logged["best_val_accuracy"]) == (
            report["best_epoch"],
            best["val_accuracy"],
        )
        assert logged["val_loss_at_best_epoch"] == best["val_loss"]


def test_a_trial_ray_stops_leaves_a_run_the_driver_closed_as_it_is():
    tracker = FakeTracker()

    def report(metrics, checkpoint_dir):
        if metrics["epoch"] == 2:
            raise SystemExit(0)  # how Ray stops a function trainable inside `report`

    with pytest.raises(SystemExit):
        train_trial(
            {"cell": "gru", "units": 4, "learning_rate": 0.01, "trial_number": "0"},
            _task(),
            _settings(),
            report,
            tracker,
        )
    assert tracker.ended == [("FINISHED", "if still running")]


def test_patience_stops_a_trial_that_stopped_improving():
    reports = []
    # A learning rate this small leaves val_accuracy and val_loss unchanged (in float32) after epoch 1.
    train_trial(
        {"cell": "gru", "units": 4, "learning_rate": 1e-12, "trial_number": "0"},
        _task(),
        _settings(max_epochs=30, patience=2),
        lambda m, c: reports.append(m),
        FakeTracker(),
    )
    assert len(reports) < 30
    assert reports[-1]["epoch"] - reports[-1]["best_epoch"] == 2


def test_nan_loss_fails_the_trial_with_its_reason():
    tracker = FakeTracker()
    task = _task()
    bad = Task(
        **{
            **task.__dict__,
            "y_train": np.full_like(task.y_train, 0),
            "x_train": np.full_like(task.x_train, np.inf),
        }
    )
    with pytest.raises(TrialFailed, match=r"the training loss became nan at epoch 1\.|became inf"):
        train_trial(
            {"cell": "gru", "units": 4, "learning_rate": 0.01, "trial_number": "0"},
            bad,
            _settings(),
            lambda m, c: None,
            tracker,
        )
    status, reason = tracker.ended[-1]
    assert status == "FAILED" and "the training loss became" in reason


def test_a_config_keras_rejects_fails_with_the_error_text():
    tracker = FakeTracker()
    with pytest.raises(TrialFailed, match="units"):
        train_trial(
            {"cell": "gru", "units": -1, "trial_number": "0"},
            _task(),
            _settings(),
            lambda m, c: None,
            tracker,
        )
    assert tracker.ended[-1][0] == "FAILED" and "units" in tracker.ended[-1][1]


def test_a_long_error_is_one_line_for_the_terminal_and_whole_in_the_run(monkeypatch):
    """XLA errors run to 100+ lines; the reason keeps the type and the first line only."""
    import search.trial

    xla_text = (
        "Graph execution error:\n\nDetected at node gradient_tape/...\n" + "  File x.py\n" * 120
    )

    def fail(*args, **kwargs):
        raise RuntimeError(xla_text)

    monkeypatch.setattr(search.trial, "build_trial_model", fail)
    tracker = FakeTracker()
    with pytest.raises(TrialFailed) as caught:
        train_trial(
            {"cell": "gru", "trial_number": "0"}, _task(), _settings(), lambda m, c: None, tracker
        )
    assert str(caught.value) == "RuntimeError: Graph execution error:"
    assert tracker.ended[-1] == ("FAILED", "RuntimeError: Graph execution error:")
    # The whole traceback, with every line of the message, goes to the trial's run (and the log).
    assert caught.value.details == tracker.texts["error.txt"]
    assert "Traceback (most recent call last)" in caught.value.details
    assert caught.value.details.count("File x.py") == 120


def test_sort_key_breaks_ties_on_validation_loss():
    assert (
        sort_key(1.0, 0.2, "max", "min")
        < sort_key(1.0, 0.3, "max", "min")
        < sort_key(0.9, 0.01, "max", "min")
    )
    assert sort_key(0.1, math.nan, "min", "min") > sort_key(0.1, 5.0, "min", "min")


def test_long_series_reach_the_recurrent_stack_as_at_most_256_steps_unless_the_space_says():
    from search.trial import MAX_RECURRENT_STEPS, auto_downsample

    assert MAX_RECURRENT_STEPS == 256
    assert [auto_downsample(n) for n in (24, 256, 257, 427, 1344, 1460)] == [1, 1, 2, 2, 8, 8]
    assert all(math.ceil(n / auto_downsample(n)) <= 256 for n in range(1, 5000, 7))


def test_an_ar_highway_longer_than_the_window_reads_the_whole_window_and_says_so():
    from search.trial import fitted_to_input

    assert fitted_to_input({"ar_highway": 24, "downsample": 1}, 12) == {
        "ar_highway": 12,
        "downsample": 1,
    }
    assert fitted_to_input({"ar_highway": 4}, 12)["ar_highway"] == 4
    tracker = FakeTracker()
    settings = _settings(objective="val_loss", mode="min", max_epochs=1)
    train_trial(
        {"cell": "gru", "units": 4, "ar_highway": 24},
        _forecasting_task(),
        settings,
        lambda m, c: None,
        tracker,
    )
    assert (
        tracker.params["ar_highway"] == 24 and tracker.params["ar_highway_used"] == 6
    )  # the window


def _forecasting_task():
    """Windows of 6 steps of a noisy oscillation, one step ahead: an AR(2) explains most of it."""
    rng = np.random.default_rng(0)
    series = np.sin(np.arange(130) * 0.7) * 3.0 + 10.0 + rng.normal(scale=0.1, size=130)
    windows = np.lib.stride_tricks.sliding_window_view(series, 7)[:, :, None].astype("float32")
    x, y = windows[:, :6], windows[:, 6:]
    head = Head("forecasting", 1, horizon=1, target_mean=(10.0,), target_std=(2.0,))
    return Task(
        "forecasting",
        x[:80],
        y[:80],
        x[80:104],
        y[80:104],
        x[104:],
        y[104:],
        head,
        np.array([10.0], "float32"),
        np.array([2.0], "float32"),
        ("v",),
        (),
        "fp",
    )


def test_an_ar_highway_trial_reports_its_least_squares_start_as_epoch_0_and_keeps_it_when_training_is_worse():
    tracker, reports = FakeTracker(), []
    # A learning rate of 1: every epoch of training wrecks the linear fit.
    settings = _settings(objective="val_loss", mode="min", max_epochs=3)
    values = {"cell": "gru", "units": 4, "ar_highway": 4, "learning_rate": 1.0}
    train_trial(
        values, _forecasting_task(), settings, lambda m, c: reports.append((dict(m), c)), tracker
    )
    assert [m["epoch"] for m, _ in reports] == [0, 1, 2, 3]
    start, checkpoint = reports[0]
    assert checkpoint is not None and start["val_loss"] < 0.1  # noise 0.1: MSE about 0.01
    assert all(m["val_loss"] > start["val_loss"] for m, _ in reports[1:])
    assert (
        reports[-1][0]["best_epoch"] == 0 and reports[-1][0]["best_objective"] == start["val_loss"]
    )


@pytest.mark.parametrize("schedule", ["constant", "cosine"])
def test_a_cosine_trial_decays_its_rate_to_zero_over_max_epochs(schedule):
    from search.trial import build_trial_model

    values = {"cell": "gru", "units": 4, "learning_rate": 1e-2, "batch_size": 16,
              "lr_schedule": schedule}  # fmt: skip
    task = _task()
    model, config = build_trial_model(values, "0", task, _settings(max_epochs=4))
    assert config.training.lr_schedule == schedule
    # 40 training cases in batches of 16: 3 updates an epoch, 12 in the trial's 4 epochs.
    model.fit(task.x_train, task.y_train, batch_size=16, epochs=2, verbose=0)
    halfway = float(model.optimizer.learning_rate)
    model.fit(task.x_train, task.y_train, batch_size=16, epochs=2, verbose=0)
    end = float(model.optimizer.learning_rate)
    if schedule == "cosine":
        assert (halfway, end) == (pytest.approx(5e-3), pytest.approx(0.0, abs=1e-12))
    else:
        assert halfway == end == pytest.approx(1e-2)
