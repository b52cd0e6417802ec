"""Trainers that inject faults into chosen trials, for the reliability tests.

Ray workers receive this module by value (see `register`), so they need not import `tests`.
Each trainer wraps the real `search.trial.train_trial`; only the fault is fake.
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path
from unittest import mock

from search.trial import train_trial
from search.trial_result import TRIAL_NUMBER_KEY

# Files in the signal folder: the pid of the worker waiting to be killed, and the mark the
# test writes before it kills it (so the retry does not wait again).
PID_FILE, KILLED_FILE = "worker.pid", "killed"


class _WaitToBeKilled:
    """Reports normally; after epoch `at_epoch` of the first attempt, publishes its pid and hangs."""

    def __init__(self, report, signals: Path, at_epoch: int):
        self.report, self.signals, self.at_epoch = report, signals, at_epoch
        self.restored = getattr(report, "restored", None)

    def __call__(self, metrics, checkpoint_dir):
        self.report(metrics, checkpoint_dir)  # the checkpoint is stored before the kill
        if metrics.get("epoch") == self.at_epoch and not (self.signals / KILLED_FILE).exists():
            (self.signals / PID_FILE).write_text(str(os.getpid()))
            time.sleep(300)  # the test SIGKILLs this process long before


def _nan_compile(original):
    """compile_model, then a loss that is NaN from the first batch on: a diverged trial."""

    def compile_model(model, head, learning_rate, **kwargs):
        import keras

        original(model, head, learning_rate, **kwargs)
        loss = model.loss

        def diverged(y_true, y_pred):
            return keras.losses.get(loss)(y_true, y_pred) * float("nan")

        model.compile(optimizer=model.optimizer, loss=diverged, metrics=["accuracy"])

    return compile_model


def _out_of_memory(*args, **kwargs):
    import tensorflow as tf

    raise tf.errors.ResourceExhaustedError(
        None, None, "OOM when allocating tensor with shape[4096,4096,4096]"
    )


def make_trainer(
    signals: str,
    *,
    kill: str | None = None,
    nan: str | None = None,
    oom: str | None = None,
    kill_at_epoch: int = 2,
    epoch_sleep_s: float = 0.0,
):
    """A trainer: trial `kill` hangs to be SIGKILLed, `nan` diverges, `oom` runs out of memory."""

    def trainer(values, task, settings, report):
        number = str(values.get(TRIAL_NUMBER_KEY))
        if epoch_sleep_s:
            report = _Slow(report, epoch_sleep_s)
        if number == kill:
            return train_trial(
                values, task, settings, _WaitToBeKilled(report, Path(signals), kill_at_epoch)
            )
        if number == nan:
            import cells.builder

            with mock.patch.object(
                cells.builder, "compile_model", _nan_compile(cells.builder.compile_model)
            ):
                return train_trial(values, task, settings, report)
        if number == oom:
            import keras

            with mock.patch.object(keras.Model, "fit", _out_of_memory):
                return train_trial(values, task, settings, report)
        return train_trial(values, task, settings, report)

    return trainer


class _Slow:
    """Slows every epoch down, so that a fault lands while trials are still logging."""

    def __init__(self, report, seconds: float):
        self.report, self.seconds = report, seconds
        self.restored = getattr(report, "restored", None)

    def __call__(self, metrics, checkpoint_dir):
        time.sleep(self.seconds)
        self.report(metrics, checkpoint_dir)


def register() -> None:
    from ray import cloudpickle

    cloudpickle.register_pickle_by_value(sys.modules[__name__])
