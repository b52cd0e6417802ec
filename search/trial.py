"""One trial's training, as it runs inside a Ray worker.

Ray is not imported here: `tune.py` passes a `report(metrics, checkpoint_dir)` function, so this
code runs (and is tested) in a plain process too. Each trial opens its own nested MLflow run
under the search's parent run, reports every epoch, keeps the best epoch's model as its
checkpoint, and stops early when the objective has not improved for `patience` epochs.
"""

from __future__ import annotations

import functools
import gc
import json
import math
import os
import shutil
import tempfile
import traceback
from collections.abc import Callable
from dataclasses import dataclass

import keras
import numpy as np

from search.tracker_protocols import TrialTracker
from search.tracking import Tracker, best_metric, tiebreak_metric
from search.trial_result import BEST_EPOCH, BEST_OBJECTIVE, BEST_TIEBREAK, TRIAL_NUMBER_KEY

# Name of the checkpointed model file inside a trial's checkpoint directory.
CHECKPOINT_FILE = "model.keras"
# Beside it: the epoch and best-so-far values, so a retried trial resumes where the checkpoint was.
STATE_FILE = "state.json"
# And the best epoch's predictions on the cases it did not train on (out of fold under
# cross-validation, else the validation split's): what ensemble selection scores, without
# loading every candidate's model at the end of the search (search.ensemble_selection).
HELD_OUT_FILE = "held_out.npy"

Report = Callable[[dict, str | None], None]


class TrialFailed(RuntimeError):
    """A trial cannot go on (NaN loss, a configuration Keras rejects); the message is the reason.

    `details` holds the whole traceback where there is one: it goes to the trial's MLflow run and
    the search log, while the terminal shows only the one-line reason.
    """

    def __init__(self, reason: str, details: str | None = None):
        super().__init__(reason)
        self.details = details


# Longest reason shown for a failed trial; the whole text is in the trial's `error.txt`.
MAX_REASON_CHARS = 300
# Artifact of a failed trial's MLflow run with the whole traceback.
ERROR_ARTIFACT = "error.txt"


def one_line_reason(error: BaseException) -> str:
    """`Type: first line of the message`: XLA and TensorFlow errors run to 100+ lines."""
    lines = [line.strip() for line in str(error).splitlines() if line.strip()]
    text = f"{type(error).__name__}: {lines[0]}" if lines else type(error).__name__
    return text if len(text) <= MAX_REASON_CHARS else text[: MAX_REASON_CHARS - 3] + "..."


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
    # k > 1: the objective is cross-validated over k folds of training + validation, and the
    # trial's model averages its fold models (search.data.folds).
    folds: int = 1


def sort_key(objective: float, tiebreak: float | None, mode: str, tiebreak_mode: str) -> tuple:
    """Smaller is better: the order used within a trial (best epoch) and across trials (best trial)."""
    primary = -objective if mode == "max" else objective
    secondary = math.inf if tiebreak is None or math.isnan(tiebreak) else tiebreak
    return (primary, -secondary if tiebreak_mode == "max" else secondary)


def train_trial(
    values: dict, task, settings: TrialSettings, report: Report, tracker: TrialTracker | None = None
):
    """Trains the model proposed by `values` on `task`; raises TrialFailed with the reason."""
    values = dict(values)
    number = str(values.pop(TRIAL_NUMBER_KEY, "0"))
    if settings.space is not None:
        values = settings.space.active(values)
    tracker = tracker or worker_tracker(settings.tracking_uri)
    run_id = tracker.start_trial(settings.experiment_id, settings.parent_run_id, number, values)
    stopped_by_tune = False
    try:
        _train(values, number, task, settings, report, tracker, run_id)
    except SystemExit:
        # Ray stops a trial (its scheduler, the time budget) by raising SystemExit inside `report`.
        stopped_by_tune = True
        raise
    except BaseException as error:
        if isinstance(error, TrialFailed):
            reason, details = str(error), error.details
        else:
            reason, details = one_line_reason(error), traceback.format_exc()
        if details:
            tracker.log_text(run_id, details, ERROR_ARTIFACT)
        tracker.end_run(run_id, "FAILED", reason=reason)
        if isinstance(error, TrialFailed):
            raise
        raise TrialFailed(reason, details) from error
    finally:
        if stopped_by_tune:
            # The driver closed the run already when the scheduler stopped the trial (KILLED,
            # search.tune.EarlyStops); stopped otherwise, the trial kept its best epoch.
            tracker.end_run_if_running(run_id, "FINISHED")
    tracker.end_run(run_id, "FINISHED")


def build_trial_model(
    values: dict,
    number: str,
    task,
    settings: TrialSettings,
    *,
    fresh: bool = True,
    fitted_start: bool = True,
):
    """(model, trial config): the compiled model trial `number` trains, seeded by the search's seed.

    The same values and number give the same initial weights, in a trial and in its refit.
    `fitted_start=False` leaves the linear start (`start_fitted`) to the caller.
    """
    from cells.builder import compile_model
    from search.spec import trial_config

    if fresh:
        _size_thread_pools(settings.cpus)
        _fresh_session()
    # NumPy seeds must be below 2**32.
    keras.utils.set_random_seed((settings.seed * 10_007 + int(number)) % 2**32)
    config = trial_config(fitted_to_input(values, task.x_train.shape[1]))
    model = _built(config, task)
    if fitted_start:
        start_fitted(model, config.architecture, task)
    decay_steps = _decay_steps(config.training, len(task.x_train), settings.max_epochs)
    compile_model(model, task.head, config.training.learning_rate, decay_steps=decay_steps)
    return model, config


def starts_fitted(architecture) -> bool:
    """Whether training starts from a linear model fitted to the training cases (see
    `start_fitted`), so that epoch 0 is a candidate of its own."""
    return bool(architecture.ar_highway or architecture.minirocket)


def start_fitted(model, architecture, task) -> None:
    """Training starts at the linear fit to `task`'s training cases, and the network learns
    what it misses: the AR highway's least squares, or MiniRocket's ridge readout."""
    from cells.autoregressive import start_at_least_squares
    from cells.minirocket import start_at_ridge

    if architecture.ar_highway:
        start_at_least_squares(model, task.x_train, task.y_train)
    if architecture.minirocket:
        start_at_ridge(model, task.x_train, task.y_train)


def _decay_steps(training, cases: int, max_epochs: int) -> int | None:
    """The updates a cosine schedule decays over: every epoch a trial may train, so a trial
    and its refit (more cases, the trial's best epoch count) see the same rate at each epoch."""
    if training.lr_schedule != "cosine":
        return None
    return max_epochs * math.ceil(cases / training.batch_size)


def _built(config, task) -> keras.Model:
    from cells.builder import build_model

    return build_model(
        config.architecture,
        task.input_shape,
        task.head,
        feature_mean=task.feature_mean,
        feature_std=task.feature_std,
        series_length=task.x_train.shape[1],
    )


def fitted_to_input(values: dict, steps: int) -> dict:
    """`values` with what depends on the input length resolved for `steps` input steps: the
    downsampling factor (unless the space sets it), and an AR highway no longer than the input."""
    shuffled = values.get("dimension_shuffle", False)  # the recurrent stack reads no time axis
    values = {"downsample": 1 if shuffled else auto_downsample(steps), **values}
    if values.get("ar_highway", 0) > steps:
        values["ar_highway"] = steps  # the default space's 24 lags on 12-step windows: all 12
    return values


# Unless the space sets `downsample`, longer series are shortened to at most this many steps
# before the recurrent stack (a GRU over 1344 steps is minutes per epoch on 2 cores); the
# convolutional branch still reads every step.
MAX_RECURRENT_STEPS = 256


def auto_downsample(steps: int) -> int:
    """The smallest power of two that brings `steps` to at most MAX_RECURRENT_STEPS."""
    factor = 1
    while math.ceil(steps / factor) > MAX_RECURRENT_STEPS:
        factor *= 2
    return factor


def _train(values, number, task, settings, report, tracker, run_id):
    if settings.folds > 1:
        return _train_folds(values, number, task, settings, report, tracker, run_id)
    from search.data.metrics import predict

    model, config = build_trial_model(values, number, task, settings)
    _log_model(model, config, values, tracker, run_id)
    held_out = functools.partial(predict, model, task.x_val)  # the model as it is at its best epoch
    callback = _EpochReporter(settings, report, tracker, run_id, number, held_out)
    # A retry after the worker died: Ray hands back the trial's last checkpoint (see search.tune).
    start = _restore(model, callback, getattr(report, "restored", None), tracker, run_id)
    if start == 0 and starts_fitted(config.architecture):
        # Epoch 0, the linear start, is a candidate: training can only improve on it.
        callback.set_model(model)
        callback.on_epoch_end(-1, _evaluated(model, task, config))
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


def _train_folds(values, number, task, settings, report, tracker, run_id):
    """k-fold cross-validation (search.data.folds): each epoch trains the k fold models in turn and
    reports the mean of their metrics; the checkpoint is their average.

    The folds take turns in one compiled model, each with its own weights and optimizer state,
    so the model is traced (and compiled by XLA, where a trial uses it) once, not k times. The
    averaged fold models are uncompiled copies that only hold each fold's weights.
    """
    from cells.ensemble import average_models
    from search.data.folds import cross_validation_folds, unit_scaled

    folds = cross_validation_folds(task, settings.folds, settings.seed)
    # The shared model has statistics 0 and 1; each fold model, its fold's own.
    scaled = [unit_scaled(fold) for fold in folds]
    # Built for the largest fold (rolling origins differ in size): its cosine schedule decays
    # over the most updates an epoch of any fold makes, so no fold reaches a zero rate early.
    largest = max(scaled, key=lambda fold: len(fold.x_train))
    model, config = build_trial_model(values, number, largest, settings, fitted_start=False)
    model.optimizer.build(model.trainable_variables)
    members = [_built(config, fold) for fold in folds]
    bagged = average_models(members, name="folds")
    _log_model(model, config, values, tracker, run_id, folds=len(folds))
    # `states` (each fold's weights), bound below, as they are when a best epoch is saved.
    callback = _EpochReporter(
        settings, report, tracker, run_id, number, lambda: _out_of_fold(model, scaled, states)
    )
    callback.set_model(bagged)
    start = _restore(bagged, callback, getattr(report, "restored", None), tracker, run_id)
    fresh_optimizer = [variable.numpy() for variable in model.optimizer.variables]
    if start:  # a retry: each fold goes on from its checkpointed weights, with a fresh optimizer
        states = [(member.get_weights(), fresh_optimizer) for member in members]
    else:  # every fold starts from the same initial weights, its linear start its own
        starts = _fold_starts(model, config, scaled, members)
        states = [(weights, fresh_optimizer) for weights in starts]
        if starts_fitted(config.architecture):  # epoch 0, the linear start, is a candidate
            callback.on_epoch_end(-1, _fold_start_logs(model, config, scaled, starts))
    bagged.stop_training = False  # the reporter sets it when patience runs out
    for epoch in range(start, settings.max_epochs):
        logs = []
        for index, fold in enumerate(scaled):
            _load_state(model, states[index])
            logs.append(_fit_one_epoch(model, fold, config, epoch))
            states[index] = (model.get_weights(), [v.numpy() for v in model.optimizer.variables])
            members[index].set_weights(states[index][0])
        callback.on_epoch_end(epoch, _mean_logs(logs))
        if bagged.stop_training:
            break
    if callback.best_epoch is None:
        raise TrialFailed(f"the trial never reported {settings.objective!r}.")


def _fold_starts(model, config, folds, members) -> list:
    """Each fold's initial weights (the members get them too): the model's, with the linear
    start fitted to that fold's training cases alone; one fit for all would have seen the
    other folds' validation cases."""
    initial = model.get_weights()
    starts = []
    for fold, member in zip(folds, members, strict=True):
        model.set_weights(initial)
        start_fitted(model, config.architecture, fold)
        starts.append(model.get_weights())
        member.set_weights(starts[-1])
    return starts


def _out_of_fold(model, folds, states) -> np.ndarray:
    """Each fold model's predictions on its fold's validation cases, the folds in order (the
    shared model goes on from `states` at the next fold's turn)."""
    from search.data.metrics import predict

    predictions = []
    for fold, (weights, _) in zip(folds, states, strict=True):
        model.set_weights(weights)
        predictions.append(predict(model, fold.x_val))
    return np.concatenate(predictions)


def _fold_start_logs(model, config, folds, starts) -> dict:
    logs = []
    for fold, weights in zip(folds, starts, strict=True):
        model.set_weights(weights)
        logs.append(_evaluated(model, fold, config))
    return _mean_logs(logs)


def _mean_logs(logs: list[dict]) -> dict:
    return {name: float(np.mean([log[name] for log in logs])) for name in logs[0]}


def _load_state(model, state) -> None:
    weights, optimizer = state
    model.set_weights(weights)
    for variable, value in zip(model.optimizer.variables, optimizer, strict=True):
        variable.assign(value)


def _evaluated(model, task, config) -> dict:
    """The metrics fit() would log, of the model as it is."""
    size = config.training.batch_size
    train = model.evaluate(task.x_train, task.y_train, batch_size=size, verbose=0, return_dict=True)
    val = model.evaluate(task.x_val, task.y_val, batch_size=size, verbose=0, return_dict=True)
    return {**train, **{f"val_{name}": value for name, value in val.items()}}


def _fit_one_epoch(model, fold, config, epoch: int) -> dict:
    history = model.fit(
        fold.x_train,
        fold.y_train,
        validation_data=(fold.x_val, fold.y_val),
        batch_size=config.training.batch_size,
        epochs=epoch + 1,
        initial_epoch=epoch,
        verbose=0,
    )
    return {name: values[-1] for name, values in history.history.items()}


def _log_model(model, config, values, tracker, run_id, folds: int = 1) -> None:
    params = {"parameter_count": model.count_params()}
    arch = config.architecture
    if "downsample" not in values:
        params["downsample"] = arch.downsample  # chosen from the series' length
    if arch.ar_highway != values.get("ar_highway", 0):
        params["ar_highway_used"] = arch.ar_highway  # cut to the input's length (MLflow keeps
        # a param's first value, so the proposed one stays under its own name)
    if folds > 1:
        params["folds"] = folds
    tracker.log_params(run_id, params)
    tracker.set_tags(run_id, {"cell": config.architecture.variant})


def _restore(
    model, callback, checkpoint_dir: str | None, tracker: TrialTracker, run_id: str
) -> int:
    """Loads the checkpoint's weights and best-so-far values; returns the epoch to start from."""
    if not checkpoint_dir or not os.path.isfile(os.path.join(checkpoint_dir, STATE_FILE)):
        return 0
    with open(os.path.join(checkpoint_dir, STATE_FILE)) as handle:
        state = json.load(handle)
    model.load_weights(os.path.join(checkpoint_dir, CHECKPOINT_FILE))
    s = callback.settings
    callback.best_epoch = state["best_epoch"]
    callback.best_values = (state["best_objective"], state["best_tiebreak"])
    callback.best_key = sort_key(
        state["best_objective"], state["best_tiebreak"], s.mode, s.tiebreak_mode
    )
    tracker.set_tags(run_id, {"resumed_from_epoch": state["epoch"]})
    return int(state["epoch"])


class _EpochReporter(keras.callbacks.Callback):
    """Keras callback: per-epoch metrics to MLflow and Tune, best-epoch checkpoint, NaN, patience."""

    def __init__(
        self,
        settings: TrialSettings,
        report: Report,
        tracker: TrialTracker,
        run_id: str,
        number: str,
        held_out: Callable[[], np.ndarray] | None = None,
    ):
        super().__init__()
        self.settings, self.report, self.tracker, self.run_id, self.number = (
            settings,
            report,
            tracker,
            run_id,
            number,
        )
        # The model's predictions on the held-out cases, saved with each best epoch (HELD_OUT_FILE).
        self.held_out = held_out
        self.best_key: tuple | None = None
        self.best_epoch: int | None = None
        self.best_values: tuple[float, float | None] = (math.nan, None)

    def best_metrics(self, epoch: int) -> dict:
        """What the MLflow runs table sorts by: the best epoch's values, not the last epoch's."""
        s = self.settings
        metrics = {"epoch": epoch}
        if self.best_epoch is None:
            return metrics
        objective, tiebreak = self.best_values
        metrics.update({best_metric(s.objective): objective, "best_epoch": self.best_epoch})
        if s.tiebreak != s.objective and tiebreak is not None and math.isfinite(tiebreak):
            metrics[tiebreak_metric(s.tiebreak)] = tiebreak
        return metrics

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        logs = {name: float(value) for name, value in (logs or {}).items()}
        s = self.settings
        if not math.isfinite(logs.get("loss", math.nan)):
            raise TrialFailed(f"the training loss became {logs.get('loss')} at epoch {epoch + 1}.")
        if s.objective not in logs:
            raise TrialFailed(
                f"the model does not report the objective {s.objective!r}; it reports {sorted(logs)}."
            )
        objective, tiebreak = logs[s.objective], logs.get(s.tiebreak)
        key = sort_key(objective, tiebreak, s.mode, s.tiebreak_mode)
        checkpoint_dir = None
        improved = math.isfinite(objective) and (self.best_key is None or key < self.best_key)
        if improved:
            self.best_key, self.best_epoch, self.best_values = key, epoch + 1, (objective, tiebreak)
        metrics = {**logs, **self.best_metrics(epoch + 1)}
        self.tracker.log_metrics(self.run_id, metrics, step=epoch + 1)
        if improved:
            checkpoint_dir = tempfile.mkdtemp(prefix="gru-search-ckpt-")
            self.model.save(os.path.join(checkpoint_dir, CHECKPOINT_FILE))
            state = {
                "trial_number": self.number,
                "epoch": epoch + 1,
                "best_epoch": epoch + 1,
                "best_objective": objective,
                "best_tiebreak": tiebreak,
            }
            with open(os.path.join(checkpoint_dir, STATE_FILE), "w") as handle:
                json.dump(state, handle)
            if self.held_out is not None:
                np.save(os.path.join(checkpoint_dir, HELD_OUT_FILE), self.held_out())
        result = {
            **logs,
            "epoch": epoch + 1,
            TRIAL_NUMBER_KEY: self.number,
            BEST_OBJECTIVE: self.best_values[0],
            BEST_TIEBREAK: self.best_values[1] if self.best_values[1] is not None else math.nan,
            BEST_EPOCH: math.nan if self.best_epoch is None else self.best_epoch,
        }
        try:
            self.report(result, checkpoint_dir)
        finally:
            if checkpoint_dir:
                shutil.rmtree(checkpoint_dir, ignore_errors=True)
        if (
            s.patience is not None
            and self.best_epoch is not None
            and epoch + 1 - self.best_epoch >= s.patience
        ):
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
