"""One trial's training outside Ray: per-epoch reports, best-epoch checkpoint, patience, failures."""

from __future__ import annotations

import math
import os

import numpy as np
import pytest

from cells.architecture import Head
from search.data.task import Task
from search.trial import CHECKPOINT_FILE, TrialFailed, TrialSettings, sort_key, train_trial

pytestmark = pytest.mark.slow


class FakeTracker:
    def __init__(self):
        self.params, self.metrics, self.ended, self.tags = {}, [], [], {}

    def start_trial(self, experiment_id, parent_run_id, number, values):
        self.params.update(values)
        return f"run-{number}"

    def log_params(self, run_id, params):
        self.params.update(params)

    def set_tags(self, run_id, tags):
        self.tags.update(tags)

    def log_metrics(self, run_id, metrics, step=0):
        self.metrics.append((step, metrics))

    def end_run(self, run_id, status, reason=None):
        self.ended.append((status, reason))


def _task(seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(60, 6, 2)).astype("float32")
    y = (x[:, :, 0].sum(axis=1) > 0).astype("int64")
    return Task("classification", x[:40], y[:40], x[40:50], y[40:50], x[50:], y[50:], Head("classification", 2),
                np.zeros(2, "float32"), np.ones(2, "float32"), ("a", "b"), ("0", "1"), "fp")


def _settings(**overrides):
    base = dict(objective="val_accuracy", mode="max", max_epochs=4, patience=None, cpus=1, tracking_uri="unused",
                experiment_id="e", parent_run_id="p", seed=0)
    return TrialSettings(**{**base, **overrides})


def test_reports_every_epoch_and_checkpoints_only_improvements():
    tracker, reports = FakeTracker(), []

    def report(metrics, checkpoint_dir):
        saved = checkpoint_dir is not None and os.path.isfile(os.path.join(checkpoint_dir, CHECKPOINT_FILE))
        reports.append((dict(metrics), saved))

    train_trial({"cell": "gru", "units": 4, "learning_rate": 0.01, "trial_number": "3"}, _task(), _settings(), report, tracker)
    assert [m["epoch"] for m, _ in reports] == [1, 2, 3, 4]
    assert tracker.ended == [("FINISHED", None)]
    assert tracker.params["units"] == 4 and tracker.params["parameter_count"] > 0 and tracker.tags["cell"] == "gru"
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


def test_patience_stops_a_trial_that_stopped_improving():
    reports = []
    # A learning rate this small leaves val_accuracy and val_loss unchanged (in float32) after epoch 1.
    train_trial({"cell": "gru", "units": 4, "learning_rate": 1e-12, "trial_number": "0"}, _task(),
                _settings(max_epochs=30, patience=2), lambda m, c: reports.append(m), FakeTracker())
    assert len(reports) < 30
    assert reports[-1]["epoch"] - reports[-1]["best_epoch"] == 2


def test_nan_loss_fails_the_trial_with_its_reason():
    tracker = FakeTracker()
    task = _task()
    bad = Task(**{**task.__dict__, "y_train": np.full_like(task.y_train, 0), "x_train": np.full_like(task.x_train, np.inf)})
    with pytest.raises(TrialFailed, match=r"the training loss became nan at epoch 1\.|became inf"):
        train_trial({"cell": "gru", "units": 4, "learning_rate": 0.01, "trial_number": "0"}, bad, _settings(), lambda m, c: None, tracker)
    status, reason = tracker.ended[-1]
    assert status == "FAILED" and "the training loss became" in reason


def test_a_config_keras_rejects_fails_with_the_error_text():
    tracker = FakeTracker()
    with pytest.raises(TrialFailed, match="units"):
        train_trial({"cell": "gru", "units": -1, "trial_number": "0"}, _task(), _settings(), lambda m, c: None, tracker)
    assert tracker.ended[-1][0] == "FAILED" and "units" in tracker.ended[-1][1]


def test_sort_key_breaks_ties_on_validation_loss():
    assert sort_key(1.0, 0.2, "max", "min") < sort_key(1.0, 0.3, "max", "min") < sort_key(0.9, 0.01, "max", "min")
    assert sort_key(0.1, math.nan, "min", "min") > sort_key(0.1, 5.0, "min", "min")
