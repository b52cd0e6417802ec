"""The one module that drives Ray Tune: start Ray, run the trials, collect their outcomes.

The Task goes into Ray's object store once (`tune.with_parameters`); actors are reused so each
worker imports TensorFlow once; a keras-tuner oracle proposes configurations through
`OracleSearcher`; Ray's ASHA or asynchronous HyperBand stops weak trials from per-epoch results.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import logging
import math
import os
import re
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from search.errors import ClusterUnreachable
from search.runner import TrialEvents, TuneOutcome, TuneSettings
from search.searcher import OracleSearcher
from search.tracking import finite_or_none
from search.trial import CHECKPOINT_FILE, STATE_FILE, TrialFailed, TrialSettings
from search.trial_result import (
    BEST_EPOCH,
    BEST_OBJECTIVE,
    BEST_TIEBREAK,
    FAILED_DETAILS_KEY,
    FAILED_KEY,
    TRIAL_NUMBER_KEY,
    TrialOutcome,
)

if TYPE_CHECKING:
    from search.spec.model import RaySettings, Resources

# Tune warns when handling a trial's result takes over 0.5 s ("consider reporting results less
# frequently"): on a busy 2-core machine our per-epoch reports cross that now and then, and the
# advice is not the user's to follow. Tune reads the threshold once, when it is first imported.
os.environ.setdefault("TUNE_WARN_THRESHOLD_S", "5")

log = logging.getLogger("gru_search")
SCHEDULERS = ("fifo", "asha", "hyperband")
# The reason of a trial that ended without reporting a single epoch.
NO_RESULT = "no result reported"
# Checkpoints Tune keeps per trial (benchmarks/checkpoint_disk.py measures 1 against all).
CHECKPOINTS_KEPT: int | None = 1
# FAILED_KEY: result key of a trial that failed on its own (NaN loss, out of memory, a bad
# configuration): it ends with this reason instead of raising, so Ray retries only dead workers.


class RayTuneRunner:
    """The `TrialRunner` of a real search: the trials run as Ray Tune trials."""

    def start(self, ray: RaySettings, resources_per_trial: Resources) -> None:
        start_ray(ray.address, num_cpus=ray.num_cpus)
        require_trial_fits(resources_per_trial.cpu, resources_per_trial.gpu, ray.address)

    def run_trials(
        self,
        task,
        searcher: OracleSearcher,
        settings: TuneSettings,
        trial_settings: TrialSettings,
        *,
        trainer: Callable,
        events: TrialEvents,
    ) -> TuneOutcome:
        return run_trials(
            task,
            searcher,
            settings,
            trial_settings,
            trainer=trainer,
            callbacks=[tune_callback(events.started, events.result, events.ended)],
            on_stopped_early=events.stopped_early,
        )


def start_ray(address: str, num_cpus: int | None = None) -> None:
    """Local Ray by default (no server), or an existing cluster."""
    import ray

    if ray.is_initialized():
        return
    # Ray workers started from here inherit the environment: quiet TensorFlow, give a stopped
    # trial's thread time to reach its next report so its actor can be reused.
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    os.environ.setdefault("TUNE_FUNCTION_THREAD_TIMEOUT_S", "30")
    os.environ.setdefault("RAY_AIR_NEW_OUTPUT", "0")
    os.environ.setdefault("TUNE_WARN_EXCESSIVE_EXPERIMENT_CHECKPOINT_SYNC_THRESHOLD_S", "0")
    env = {
        k: os.environ[k]
        for k in ("TF_CPP_MIN_LOG_LEVEL", "KERAS_BACKEND", "TUNE_FUNCTION_THREAD_TIMEOUT_S")
        if k in os.environ
    }
    try:
        ray.init(
            address=None if address == "local" else address,
            num_cpus=num_cpus if address == "local" else None,
            log_to_driver=False,
            include_dashboard=False,
            logging_level=logging.WARNING,
            runtime_env={"env_vars": env},
            ignore_reinit_error=True,
        )
    except (ConnectionError, RuntimeError, ValueError) as error:
        raise ClusterUnreachable(
            f"Cannot connect to Ray at {address!r} ({error}); check ray.address in the spec."
        ) from error


def require_trial_fits(cpu: float, gpu: float, address: str) -> None:
    """Raises ClusterError when no node of the running Ray cluster can hold one trial."""
    import ray

    from search.resources import check_trial_fits

    check_trial_fits(cpu, gpu, ray.nodes(), address)


def _for_tune(searcher: OracleSearcher):
    """`searcher` as the Ray Tune `Searcher` it has the methods of; Tune checkpoints its state
    (the oracle included) with cloudpickle."""
    from ray import cloudpickle
    from ray.tune.search import Searcher

    class OracleTuneSearcher(Searcher):
        def __init__(self, inner: OracleSearcher):
            super().__init__(metric=inner.metric, mode=inner.mode)
            self.inner = inner

        def set_search_properties(self, metric, mode, config, **spec) -> bool:
            return True  # metric and mode come from the spec; the space lives in the oracle

        def suggest(self, trial_id: str):
            return self.inner.suggest(trial_id)

        def on_trial_result(self, trial_id: str, result: dict) -> None:
            self.inner.on_trial_result(trial_id, result)

        def on_trial_complete(self, trial_id: str, result: dict | None = None, error: bool = False):
            self.inner.on_trial_complete(trial_id, result, error)

        def save(self, checkpoint_path: str) -> None:
            # Trials running at save time are re-run on restore, so their oracle entries are dropped.
            with open(checkpoint_path, "wb") as handle:
                cloudpickle.dump(self.inner.get_state(), handle)

        def restore(self, checkpoint_path: str) -> None:
            with open(checkpoint_path, "rb") as handle:
                self.inner.set_state(cloudpickle.load(handle))

    return OracleTuneSearcher(searcher)


def run_trials(
    task,
    searcher: OracleSearcher,
    settings: TuneSettings,
    trial_settings: TrialSettings,
    *,
    trainer: Callable,
    callbacks: list | None = None,
    on_stopped_early: Callable[[str, int], None] | None = None,
) -> TuneOutcome:
    """Runs the search's trials in a new Tune experiment and returns every trial's outcome.

    `on_stopped_early(number, epoch)` hears of each trial the scheduler stops before max_epochs,
    before the trial's worker is told to stop.
    """
    from ray import tune

    trainable = tune.with_resources(
        tune.with_parameters(_trainable, task=task, settings=trial_settings, trainer=trainer),
        {"cpu": settings.cpus_per_trial, "gpu": settings.gpus_per_trial},
    )
    stopper = _stopper(settings.stop_trials)
    tuner = tune.Tuner(
        trainable,
        tune_config=_tune_config(settings, searcher, on_stopped_early),
        run_config=_run_config(settings, callbacks or [], stopper),
    )
    started = time.monotonic()
    grid = tuner.fit()
    outcomes = sorted(
        (_outcome(result, settings.objective) for result in grid), key=lambda o: o.number
    )
    budget_reached = searcher.stopped_reason is None and (
        (bool(settings.time_budget_s) and time.monotonic() - started >= settings.time_budget_s)
        or (stopper is not None and stopper.fired)
    )
    if budget_reached:
        outcomes = _settled_at_the_budget(grid, outcomes, searcher)
    return TuneOutcome(tuple(outcomes), searcher.stopped_reason, budget_reached)


def _tune_config(
    settings: TuneSettings,
    searcher: OracleSearcher,
    on_stopped_early: Callable[[str, int], None] | None,
):
    """How Tune proposes, schedules and bounds the trials."""
    from ray import tune

    return tune.TuneConfig(
        metric=settings.objective,
        mode=settings.mode,
        search_alg=_for_tune(searcher),
        scheduler=_scheduler(settings, on_stopped_early),
        num_samples=settings.max_trials,
        time_budget_s=settings.time_budget_s,
        max_concurrent_trials=settings.concurrency,
        # One TensorFlow import per worker instead of one per trial (64 s -> 4 s for 40 trials).
        reuse_actors=True,
    )


def _stopper(stop_trials: Callable[[], bool] | None):
    """A Tune Stopper that ends every trial once `stop_trials()` says so (None: no stopper)."""
    if stop_trials is None:
        return None
    from ray.tune import Stopper

    class _WhenTold(Stopper):
        fired = False

        # Tune saves its stoppers with the experiment state; the question is this process's,
        # so a restored copy never stops anything.
        def __getstate__(self):
            return {}

        def __setstate__(self, state):
            self.ask = lambda: False

        def __call__(self, trial_id, result):
            return False

        def stop_all(self):
            self.fired = self.fired or bool(self.ask())
            return self.fired

    stopper = _WhenTold()
    stopper.ask = stop_trials
    return stopper


def _run_config(settings: TuneSettings, callbacks: list, stopper=None):
    """Where the experiment is stored, how failed trials are retried and what is checkpointed."""
    from ray import tune

    return tune.RunConfig(
        name=settings.name,
        storage_path=str(Path(settings.storage_dir).resolve()),
        callbacks=callbacks,
        stop=stopper,
        verbose=0,
        # Retries of a trial whose worker died, from its last checkpoint; a trial that fails
        # on its own (NaN loss, out of memory) reports its reason instead (see _trainable).
        failure_config=tune.FailureConfig(max_failures=settings.max_failures, fail_fast=False),
        # One checkpoint per trial, its best: a trial checkpoints only when its objective
        # improves, so the best is also the latest, which a retried trial restarts from.
        # Keeping every one filled the disk (48 for the 6-trial quickstart). The price:
        # with num_to_keep set Tune also saves its experiment state after each checkpoint.
        checkpoint_config=tune.CheckpointConfig(
            num_to_keep=CHECKPOINTS_KEPT,
            checkpoint_score_attribute=BEST_OBJECTIVE,
            checkpoint_score_order=settings.mode,
        ),
    )


def _settled_at_the_budget(grid, outcomes: list, searcher: OracleSearcher) -> list:
    """Tune ends the trials still running at the budget without telling the searcher. One that
    reported an epoch is complete with its best epoch so far: the oracle records it, so --resume
    does not train it again. One with no epoch stays pending there and runs again."""
    for result in grid:
        if finite_or_none((result.metrics or {}).get(BEST_OBJECTIVE)) is not None:
            searcher.on_trial_complete(result.metrics.get("trial_id"), result.metrics)
    # A trial the budget ended before its first epoch did not fail: it had no time.
    return [
        dataclasses.replace(o, status="STOPPED", reason="the time budget ended it before its first epoch")
        if o.status == "FAILED" and o.reason == NO_RESULT else o
        for o in outcomes
    ]  # fmt: skip


class _Report:
    """What a trainer calls once per epoch; `restored` is the checkpoint folder of a retried trial."""

    def __init__(self, restored: str | None):
        self.restored = restored
        self.last: dict = {}

    def __call__(self, metrics: dict, checkpoint_dir: str | None) -> None:
        from ray import tune

        self.last = metrics
        checkpoint = tune.Checkpoint.from_directory(checkpoint_dir) if checkpoint_dir else None
        tune.report(metrics, checkpoint=checkpoint)


def _trainable(config: dict, task=None, settings: TrialSettings = None, trainer: Callable = None):
    from ray import tune

    checkpoint = tune.get_checkpoint()
    with checkpoint.as_directory() if checkpoint else contextlib.nullcontext() as restored:
        report = _Report(restored)
        try:
            trainer(config, task, settings, report)
        except TrialFailed as error:
            # A retry would fail the same way; Ray's retries are for workers that died.
            tune.report(
                {
                    settings.objective: math.nan,
                    BEST_OBJECTIVE: math.nan,
                    FAILED_KEY: str(error),
                    FAILED_DETAILS_KEY: error.details or "",
                }
            )


def _scheduler(settings: TuneSettings, on_stopped_early: Callable[[str, int], None] | None = None):
    from ray.tune.schedulers import AsyncHyperBandScheduler, FIFOScheduler

    if settings.scheduler == "fifo":
        return FIFOScheduler()
    if settings.scheduler not in ("asha", "hyperband"):
        raise ValueError(
            f"search.scheduler must be one of {SCHEDULERS}, but got {settings.scheduler!r}."
        )
    scheduler = _telling_early_stops(AsyncHyperBandScheduler)(
        time_attr="training_iteration",
        max_t=settings.max_epochs,
        grace_period=min(settings.grace_period, settings.max_epochs),
        # Asynchronous HyperBand: several brackets, and trials are stopped, never paused
        # (the synchronous variant pauses and resumes trials, which a Keras fit cannot do cheaply).
        brackets=1 if settings.scheduler == "asha" else 3,
    )
    scheduler.max_epochs, scheduler.on_stopped_early = settings.max_epochs, on_stopped_early
    return scheduler


def _telling_early_stops(base: type) -> type:
    """`base` (a Tune scheduler) that calls `on_stopped_early(number, epoch)` for each trial it
    stops before `max_epochs` (ASHA also says STOP to a trial that reached max_t: not early)."""

    class TellingEarlyStops(base):
        max_epochs = 0
        on_stopped_early = None

        def on_trial_result(self, tune_controller, trial, result):
            decision = super().on_trial_result(tune_controller, trial, result)
            epoch = int(result.get("epoch") or 0)
            if decision == self.STOP and epoch < self.max_epochs and self.on_stopped_early:
                self.on_stopped_early(str(trial.config.get(TRIAL_NUMBER_KEY, "?")), epoch)
            return decision

        def __getstate__(self):
            # Tune pickles its scheduler with the experiment; the callback stays with this process.
            return {**self.__dict__, "on_stopped_early": None}

    return TellingEarlyStops


def _outcome(result, objective: str) -> TrialOutcome:
    frame = result.metrics_dataframe
    rows = [] if frame is None else frame.to_dict("records")
    checkpoint = (
        None if result.checkpoint is None else Path(result.checkpoint.path) / CHECKPOINT_FILE
    )
    error = None if result.error is None else error_reason(result.error)
    return _make_outcome(
        dict(result.config or {}), result.metrics or {}, rows, checkpoint, error, objective
    )


def _make_outcome(
    config: dict,
    metrics: dict,
    rows: list[dict],
    checkpoint: Path | None,
    error: str | None,
    objective: str,
) -> TrialOutcome:
    """A TrialOutcome from the trial's config, last result, every reported row and checkpoint."""
    number = str(config.pop(TRIAL_NUMBER_KEY, metrics.get(TRIAL_NUMBER_KEY, "?")))
    epochs = [row for row in rows if finite_or_none(row.get("epoch")) is not None]
    curves: dict = {}
    for column in epochs[0] if epochs else ():
        if (
            column in ("loss", objective)
            or column.startswith("val_")
            or column in ("accuracy", "mae")
        ):
            curves[column] = tuple(float(row[column]) for row in epochs)
    best = finite_or_none(metrics.get(BEST_OBJECTIVE))
    failed = error is not None or best is None or bool(metrics.get(FAILED_KEY))
    reason = error or metrics.get(FAILED_KEY) or (None if not failed else NO_RESULT)
    return TrialOutcome(
        number=number,
        values=config,
        status="FAILED" if failed else "COMPLETED",
        objective=best,
        tiebreak=finite_or_none(metrics.get(BEST_TIEBREAK)),
        best_epoch=int(metrics[BEST_EPOCH])
        if finite_or_none(metrics.get(BEST_EPOCH)) is not None
        else None,
        epochs=int(epochs[-1]["epoch"]) if epochs else 0,
        reason=reason,
        checkpoint=str(checkpoint) if checkpoint is not None and checkpoint.exists() else None,
        curves=curves,
        seconds=finite_or_none(metrics.get("time_total_s")),
        first_epoch_s=_first_epoch_s(epochs),
    )


def _first_epoch_s(rows: list[dict]) -> float | None:
    """Tune's time at the first trained epoch's report (epoch 0 is a fitted start's own)."""
    first = [row for row in rows if row["epoch"] == 1]
    return finite_or_none(first[0].get("time_total_s")) if first else None


def latest_checkpoint(storage_dir: str, number: str) -> str | None:
    """The last checkpoint trial `number` stored in any session of the search, or None.

    Workers write checkpoints (with state.json naming their trial) before a report returns, so
    they are on disk even when the driver was killed; Tune's own result files may not be.
    """

    def order(path: Path) -> tuple[int, str]:
        session = path.parents[2].name.removeprefix("ray-")
        return (int(session) if session.isdigit() else -1, path.parent.name)

    found = []
    for state in Path(storage_dir).glob(f"ray-*/*/checkpoint_*/{STATE_FILE}"):
        with contextlib.suppress(OSError, ValueError):
            if (
                str(json.loads(state.read_text()).get("trial_number")) == number
                and (state.parent / CHECKPOINT_FILE).is_file()
            ):
                found.append(state)
    return str(max(found, key=order).parent / CHECKPOINT_FILE) if found else None


def error_reason(error) -> str:
    """The one line a person needs from a Ray-wrapped trial error (the worker's own message)."""
    text = str(error)
    found = re.findall(r"TrialFailed: (.+)", text)
    if found:
        return found[-1].strip()
    lines = [line.strip() for line in text.strip().splitlines() if line.strip()]
    return lines[-1] if lines else type(error).__name__


def remote_calls(function, calls, *, shared=(), cpus: float, gpus: float, max_retries: int) -> list:
    """`function(*args, *shared)` for each `args` in `calls`, as Ray tasks with these resources;
    `shared` goes into Ray's object store once. Returns, in the order of `calls`, (result, None)
    or (None, the reason it failed) for each."""
    import ray

    references = [ray.put(value) for value in shared]
    remote = ray.remote(num_cpus=cpus, num_gpus=gpus, max_retries=max_retries)(function)
    futures = [remote.remote(*args, *references) for args in calls]
    results = []
    for future in futures:
        try:
            results.append((ray.get(future), None))
        except (ray.exceptions.RayError, TrialFailed) as error:
            results.append((None, error_reason(error)))
    return results


def tune_callback(on_start: Callable, on_result: Callable, on_end: Callable):
    """A Tune Callback forwarding trial events (number, payload) to the progress view and MLflow."""
    from ray.tune import Callback

    class _Forward(Callback):
        # Tune pickles its callbacks with the experiment state; the live view (locks, a terminal)
        # stays with this process, so a restored copy forwards nothing.
        def __getstate__(self):
            return {}

        def __setstate__(self, state):
            self.__dict__.update(_silent_forwards())

        def on_trial_start(self, iteration, trials, trial, **info):
            self.on_start(str(trial.config.get(TRIAL_NUMBER_KEY, "?")), dict(trial.config))

        def on_trial_result(self, iteration, trials, trial, result, **info):
            self.on_result(str(trial.config.get(TRIAL_NUMBER_KEY, "?")), result)

        def on_trial_complete(self, iteration, trials, trial, **info):
            reason = (trial.last_result or {}).get(FAILED_KEY)
            details = (trial.last_result or {}).get(FAILED_DETAILS_KEY)
            if reason and details:
                log.warning(
                    "trial %s failed; its traceback:\n%s",
                    trial.config.get(TRIAL_NUMBER_KEY, "?"),
                    details,
                )
            self.on_end(
                str(trial.config.get(TRIAL_NUMBER_KEY, "?")),
                "FAILED" if reason else "COMPLETED",
                reason,
            )

        def on_trial_error(self, iteration, trials, trial, **info):
            reason = None
            try:
                reason = error_reason(trial.get_pickled_error() or trial.get_error())
            except Exception:  # the error file may not be written yet; the outcome carries it later
                reason = "failed"
            self.on_end(str(trial.config.get(TRIAL_NUMBER_KEY, "?")), "FAILED", reason)

    forward = _Forward()
    forward.__dict__.update(on_start=on_start, on_result=on_result, on_end=on_end)
    return forward


def _silent_forwards() -> dict:
    def ignore(*args):
        return None

    return {"on_start": ignore, "on_result": ignore, "on_end": ignore}
