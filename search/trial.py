"""One trial's training, as it runs inside a Ray worker.

Ray is not imported here: `tune.py` passes a `report(metrics, checkpoint_dir)` function, so this
code runs (and is tested) in a plain process too. Each trial opens its own nested MLflow run
under the search's parent run, reports every epoch, keeps the best epoch's model as its
checkpoint, and stops early when the objective has not improved for `patience` epochs.
"""

from __future__ import annotations

import gc
import json
import math
import os
import shutil
import tempfile
from collections.abc import Callable
from dataclasses import dataclass

import keras

from search.searcher import TRIAL_NUMBER_KEY
from search.tracking import Tracker

# Name of the checkpointed model file inside a trial's checkpoint directory.
CHECKPOINT_FILE = "model.keras"
# Beside it: the epoch and best-so-far values, so a retried trial resumes where the checkpoint was.
STATE_FILE = "state.json"
# Result keys the driver reads back; the per-epoch Keras metrics are reported under their own names.
BEST_OBJECTIVE, BEST_TIEBREAK, BEST_EPOCH = "best_objective", "best_tiebreak", "best_epoch"

Report = Callable[[dict, str | None], None]


class TrialFailed(RuntimeError):
    """A trial cannot go on (NaN loss, a configuration Keras rejects); the message is the reason."""


@dataclass(frozen=True)
class TrialSettings:
    """Everything a worker needs besides the proposed values and the Task."""

    objective: str
    mode: str  # "min" or "max"
    max_epochs: int
    # Epochs without improvement of (objective, tie-breaker) before a trial stops itself; None: never.
    patience: int | None
    # The trial's CPU share: TensorFlow's thread pools are sized to it.
    cpus: float
    tracking_uri: str
    experiment_id: str
    parent_run_id: str
    seed: int
    # The search space: values its conditions switch off are dropped before building.
    space: object = None
    # Secondary key when the objective ties (small validation sets make val_accuracy tie at 1.0).
    tiebreak: str = "val_loss"
    tiebreak_mode: str = "min"


def sort_key(objective: float, tiebreak: float | None, mode: str, tiebreak_mode: str) -> tuple:
    """Smaller is better: the order used within a trial (best epoch) and across trials (best trial)."""
    primary = -objective if mode == "max" else objective
    secondary = math.inf if tiebreak is None or math.isnan(tiebreak) else tiebreak
    return (primary, -secondary if tiebreak_mode == "max" else secondary)


def train_trial(values: dict, task, settings: TrialSettings, report: Report, tracker: Tracker | None = None):
    """Trains the model proposed by `values` on `task`; raises TrialFailed with the reason."""
    values = dict(values)
    number = str(values.pop(TRIAL_NUMBER_KEY, "0"))
    if settings.space is not None:
        values = settings.space.active(values)
    tracker = tracker or worker_tracker(settings.tracking_uri)
    run_id = tracker.start_trial(settings.experiment_id, settings.parent_run_id, number, values)
    stopped_by_scheduler = False
    try:
        _train(values, number, task, settings, report, tracker, run_id)
    except SystemExit:
        # Ray stops a trial (ASHA, HyperBand) by raising SystemExit inside `report`.
        stopped_by_scheduler = True
        raise
    except BaseException as error:
        reason = str(error) if isinstance(error, TrialFailed) else f"{type(error).__name__}: {error}"
        tracker.end_run(run_id, "FAILED", reason=reason)
        if isinstance(error, TrialFailed):
            raise
        raise TrialFailed(reason) from error
    finally:
        if stopped_by_scheduler:
            tracker.end_run(run_id, "FINISHED", reason="stopped early by the scheduler")
    tracker.end_run(run_id, "FINISHED")


def build_trial_model(values: dict, number: str, task, settings: TrialSettings):
    """(model, trial config): the compiled model trial `number` trains, seeded by the search's seed.

    The same values and number give the same initial weights, in a trial and in its refit.
    """
    from cells.builder import build_model, compile_model
    from search.spec import trial_config

    _size_thread_pools(settings.cpus)
    _fresh_session()
    # NumPy seeds must be below 2**32.
    keras.utils.set_random_seed((settings.seed * 10_007 + int(number)) % 2**32)
    config = trial_config(values)
    model = build_model(
        config.architecture,
        task.input_shape,
        task.head,
        feature_mean=task.feature_mean,
        feature_std=task.feature_std,
    )
    compile_model(model, task.head, config.training.learning_rate)
    return model, config


def _train(values, number, task, settings, report, tracker, run_id):
    model, config = build_trial_model(values, number, task, settings)
    tracker.log_params(run_id, {"parameter_count": model.count_params()})
    tracker.set_tags(run_id, {"cell": config.architecture.variant})
    callback = _EpochReporter(settings, report, tracker, run_id, number)
    # A retry after the worker died: Ray hands back the trial's last checkpoint (see search.tune).
    start = _restore(model, callback, getattr(report, "restored", None), tracker, run_id)
    model.fit(
        task.x_train,
        task.y_train,
        validation_data=(task.x_val, task.y_val),
        batch_size=config.training.batch_size,
        epochs=settings.max_epochs,
        initial_epoch=start,
        callbacks=[callback],
        verbose=0,
    )
    if callback.best_epoch is None:
        raise TrialFailed(f"the trial never reported {settings.objective!r}.")


def _restore(model, callback, checkpoint_dir: str | None, tracker: Tracker, run_id: str) -> int:
    """Loads the checkpoint's weights and best-so-far values; returns the epoch to start from."""
    if not checkpoint_dir or not os.path.isfile(os.path.join(checkpoint_dir, STATE_FILE)):
        return 0
    with open(os.path.join(checkpoint_dir, STATE_FILE)) as handle:
        state = json.load(handle)
    model.load_weights(os.path.join(checkpoint_dir, CHECKPOINT_FILE))
    s = callback.settings
    callback.best_epoch = state["best_epoch"]
    callback.best_values = (state["best_objective"], state["best_tiebreak"])
    callback.best_key = sort_key(state["best_objective"], state["best_tiebreak"], s.mode, s.tiebreak_mode)
    tracker.set_tags(run_id, {"resumed_from_epoch": state["epoch"]})
    return int(state["epoch"])


class _EpochReporter(keras.callbacks.Callback):
    """Keras callback: per-epoch metrics to MLflow and Tune, best-epoch checkpoint, NaN, patience."""

    def __init__(self, settings: TrialSettings, report: Report, tracker: Tracker, run_id: str, number: str):
        super().__init__()
        self.settings, self.report, self.tracker, self.run_id, self.number = settings, report, tracker, run_id, number
        self.best_key: tuple | None = None
        self.best_epoch: int | None = None
        self.best_values: tuple[float, float | None] = (math.nan, None)

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        logs = {name: float(value) for name, value in (logs or {}).items()}
        s = self.settings
        if not math.isfinite(logs.get("loss", math.nan)):
            raise TrialFailed(f"the training loss became {logs.get('loss')} at epoch {epoch + 1}.")
        if s.objective not in logs:
            raise TrialFailed(f"the model does not report the objective {s.objective!r}; it reports {sorted(logs)}.")
        self.tracker.log_metrics(self.run_id, logs, step=epoch + 1)
        objective, tiebreak = logs[s.objective], logs.get(s.tiebreak)
        key = sort_key(objective, tiebreak, s.mode, s.tiebreak_mode)
        checkpoint_dir = None
        if math.isfinite(objective) and (self.best_key is None or key < self.best_key):
            self.best_key, self.best_epoch, self.best_values = key, epoch + 1, (objective, tiebreak)
            checkpoint_dir = tempfile.mkdtemp(prefix="gru-search-ckpt-")
            self.model.save(os.path.join(checkpoint_dir, CHECKPOINT_FILE))
            state = {"trial_number": self.number, "epoch": epoch + 1, "best_epoch": epoch + 1,
                     "best_objective": objective, "best_tiebreak": tiebreak}
            with open(os.path.join(checkpoint_dir, STATE_FILE), "w") as handle:
                json.dump(state, handle)
        result = {
            **logs,
            "epoch": epoch + 1,
            TRIAL_NUMBER_KEY: self.number,
            BEST_OBJECTIVE: self.best_values[0],
            BEST_TIEBREAK: self.best_values[1] if self.best_values[1] is not None else math.nan,
            BEST_EPOCH: self.best_epoch or 0,
        }
        try:
            self.report(result, checkpoint_dir)
        finally:
            if checkpoint_dir:
                shutil.rmtree(checkpoint_dir, ignore_errors=True)
        if s.patience is not None and self.best_epoch is not None and epoch + 1 - self.best_epoch >= s.patience:
            self.model.stop_training = True


_TRACKERS: dict[str, Tracker] = {}


def worker_tracker(uri: str) -> Tracker:
    """One client per worker process: opening the SQLite store checks its schema (about a second)."""
    if uri not in _TRACKERS:
        _TRACKERS[uri] = Tracker(uri)
    return _TRACKERS[uri]


_HEAP_FROZEN = False


def _fresh_session() -> None:
    """Drops the previous trial's models and graphs before the next one builds.

    A full collection walks every object in the worker (TensorFlow, Ray and MLflow hold ~700k),
    which took 0.7 s per trial, 15 % of a short trial's time. After the first collection the
    long-lived heap is frozen (`gc.freeze`), so later collections visit only what trials made.
    """
    global _HEAP_FROZEN
    _drop_custom_gradients()
    keras.utils.clear_session(free_memory=True)
    if not _HEAP_FROZEN:
        _HEAP_FROZEN = True
        gc.freeze()


def _drop_custom_gradients() -> None:
    """Forgets the previous trials' `tf.custom_gradient` registrations, so clear_session frees their graphs.

    Keras' optimizer all-reduces the gradients through a `custom_gradient`, which, in each traced
    train function, registers its gradient in TensorFlow's process-wide registry and never removes
    it; the entry's closure holds the traced graph (~17k objects, ~12 MB per trial). The previous
    trial's graphs are discarded here, so nothing can differentiate through them any more.
    """
    if keras.backend.backend() != "tensorflow":
        return
    from tensorflow.python.framework import ops

    registered = getattr(getattr(ops, "_gradient_registry", None), "_registry", None)
    if isinstance(registered, dict):
        for name in [name for name in registered if str(name).startswith("CustomGradient-")]:
            del registered[name]


_THREADS_SET = False


def _size_thread_pools(cpus: float) -> None:
    """TensorFlow sizes its pools to the whole machine; a trial gets only its CPU share."""
    global _THREADS_SET
    if _THREADS_SET:
        return
    _THREADS_SET = True
    if keras.backend.backend() != "tensorflow":
        return
    import tensorflow as tf

    threads = max(1, int(cpus))
    try:
        tf.config.threading.set_intra_op_parallelism_threads(threads)
        tf.config.threading.set_inter_op_parallelism_threads(threads)
    except RuntimeError:
        pass  # TensorFlow already started in this process; its pools cannot change any more.
