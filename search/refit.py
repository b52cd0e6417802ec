"""`search.refit`: train the chosen configurations again on the training and validation splits.

The search spends part of its data on validation, to rank configurations and to find each one's
best epoch. Once those choices are made, the registered model can learn from every case but the
test ones: each chosen trial's configuration trains again from the same initial weights on
training + validation data, for the epochs its trial needed (as AutoKeras' final fit does). The
refits run on Ray beside each other with the trials' resources, and each gets a nested MLflow run
`refit-N` with its per-epoch training metrics. A refit that fails leaves its trial's own model in
its place, so the search still ends with a registered model.
"""

from __future__ import annotations

import logging
import math
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

import keras

from search.budget import TimeBudget, epochs_of, plan_refit, refit_growth, registration_s
from search.runner import TuneSettings
from search.tracker_protocols import RefitTracker
from search.trial import (
    TrialFailed,
    TrialSettings,
    build_trial_model,
    one_line_reason,
    worker_tracker,
)

log = logging.getLogger("gru_search")


@dataclass(frozen=True)
class SearchRefit:
    """What a search hands its refit: its spec and data, the settings its trials ran with,
    where the refit models go, and where (unless quiet) the refit is told."""

    spec: object  # the search.spec.Spec
    task: object  # the search.data.Task the trials trained on
    trial_settings: TrialSettings
    tune_settings: TuneSettings  # the trials' resources and retries, which the refits take
    results_dir: str
    console: object  # a rich Console
    quiet: bool


@dataclass(frozen=True)
class Refit:
    """One chosen trial's refit: the model file to register, or why its trial's own model is used."""

    number: str
    epochs: int
    model_file: str  # the refit model, or the trial's checkpoint when the refit failed
    reason: str | None = None  # None when the refit succeeded

    @property
    def succeeded(self) -> bool:
        return self.reason is None


def refit_within_budget(search: SearchRefit, members, budget: TimeBudget) -> list[Refit]:
    """Refits the members whose refit fits in what the budget left; the others keep their models."""
    trial_settings = search.trial_settings
    growth = refit_growth(search.task, trial_settings)
    left = budget.after_trials_left_s()
    plan = plan_refit(
        members,
        lambda m: epochs_of(m, trial_settings),
        left_s=left,
        parallel=search.spec.search.concurrency,
        growth=growth,
        registration_s=registration_s(search.spec.search, folds=1),
    )
    if left is not None:
        message = f"time budget: {_clock(left)} left for the refit; "
        if plan.chosen:
            message += (
                f"refitting {len(plan.chosen)} of the {len(members)} chosen trials "
                f"(estimated {_clock(plan.estimate_s)})"
            )
        else:
            message += "too little to refit any chosen trial; their search models are registered"
        log.info(message)
        if not search.quiet:
            search.console.print(message)
    done = {r.number: r for r in refit_for_search(search, list(plan.chosen))} if plan.chosen else {}
    skipped = "skipped: its refit would not finish within the search's time budget"
    return [
        done.get(m.number) or Refit(m.number, epochs_of(m, trial_settings), m.checkpoint, skipped)
        for m in members
    ]


def _clock(seconds: float) -> str:
    return f"{int(seconds // 60)}:{int(seconds % 60):02d}"


def refit_for_search(search: SearchRefit, members) -> list[Refit]:
    """`refit_members` for `search.run`: on the search's Ray, with the trials' resources, told on the console."""
    from search import tune

    task, tune_settings = search.task, search.tune_settings
    cases = len(task.x_train) + len(task.x_val)
    numbers = ", ".join(m.number for m in members)
    if not search.quiet:
        search.console.print(
            f"refitting trial{'s' if len(members) > 1 else ''} {numbers} on training + validation data ({cases} cases)"
        )
    log.info("refitting trials %s on %d cases", numbers, cases)
    # On --resume with every trial already finished, this session has not started Ray yet.
    tune.start_ray(search.spec.ray.address, num_cpus=search.spec.ray.num_cpus)
    refits = refit_members(
        members,
        task,
        search.trial_settings,
        cpus=tune_settings.cpus_per_trial,
        gpus=tune_settings.gpus_per_trial,
        results_dir=search.results_dir,
        max_retries=tune_settings.max_failures,
    )
    for refit in refits:
        if not refit.succeeded:
            search.console.print(
                f"[yellow]refit of trial {refit.number} failed:[/yellow] {refit.reason}; its search model is registered instead"
            )
    return refits


def refit_members(
    members,
    task,
    settings: TrialSettings,
    *,
    cpus: float,
    gpus: float,
    results_dir: str,
    max_retries: int = 1,
) -> list[Refit]:
    """Refits every trial in `members` (TrialOutcomes, best first) on Ray; returns them in order."""
    from search import tune
    from search.data.refit import with_validation_in_training

    pending = [(m, epochs_of(m, settings)) for m in members]
    results = tune.remote_calls(
        train_refit,
        [(m.values, m.number, epochs) for m, epochs in pending],
        shared=(with_validation_in_training(task), settings),
        cpus=cpus,
        gpus=gpus,
        max_retries=max_retries,
    )
    refits = []
    for (member, epochs), (data, reason) in zip(pending, results, strict=True):
        if reason is not None:
            log.warning(
                "refit of trial %s failed (%s); its search model is used instead",
                member.number,
                reason,
            )
            refits.append(Refit(member.number, epochs, member.checkpoint, reason))
            continue
        path = Path(results_dir) / f"refit-{member.number}.keras"
        path.write_bytes(data)
        refits.append(Refit(member.number, epochs, str(path)))
    return refits


def train_refit(
    values: dict,
    number: str,
    epochs: int,
    task,
    settings: TrialSettings,
    tracker: RefitTracker | None = None,
) -> bytes:
    """Trains trial `number`'s configuration on all of `task`'s training data for `epochs` epochs.

    Runs in a Ray worker; returns the saved `.keras` file's bytes, so the driver gets the model
    on any machine of a cluster. Raises TrialFailed with the reason.
    """
    if settings.space is not None:
        values = settings.space.active(values)
    tracker = tracker or worker_tracker(settings.tracking_uri)
    run_id = tracker.start_refit(
        settings.experiment_id, settings.parent_run_id, number, values, epochs
    )
    try:
        model, config = build_trial_model(values, number, task, settings)
        model.fit(
            task.x_train,
            task.y_train,
            batch_size=config.training.batch_size,
            epochs=epochs,
            callbacks=[_EpochLogger(tracker, run_id)],
            verbose=0,
        )
        with tempfile.TemporaryDirectory(prefix="gru-search-refit-") as folder:
            path = os.path.join(folder, "model.keras")
            model.save(path)
            data = Path(path).read_bytes()
    except BaseException as error:
        reason = str(error) if isinstance(error, TrialFailed) else one_line_reason(error)
        tracker.end_run(run_id, "FAILED", reason=reason)
        raise TrialFailed(reason) from error
    tracker.end_run(run_id, "FINISHED")
    return data


class _EpochLogger(keras.callbacks.Callback):
    """Per-epoch training metrics to the refit's run; a NaN loss ends the refit."""

    def __init__(self, tracker: RefitTracker, run_id: str):
        super().__init__()
        self.tracker, self.run_id = tracker, run_id

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        logs = {name: float(value) for name, value in (logs or {}).items()}
        if not math.isfinite(logs.get("loss", math.nan)):
            raise TrialFailed(f"the training loss became {logs.get('loss')} at epoch {epoch + 1}.")
        self.tracker.log_metrics(self.run_id, logs, step=epoch + 1)
