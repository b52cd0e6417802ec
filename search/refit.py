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

from search.trial import TrialFailed, TrialSettings, build_trial_model, worker_tracker

log = logging.getLogger("gru_search")


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


def refit_for_search(spec, task, members, settings: TrialSettings, tune_settings, results_dir: str, console, quiet: bool) -> list[Refit]:
    """`refit_members` for `search.run`: on the search's Ray, with the trials' resources, told on the console."""
    from search import tune

    cases = len(task.x_train) + len(task.x_val)
    numbers = ", ".join(m.number for m in members)
    if not quiet:
        console.print(f"refitting trial{'s' if len(members) > 1 else ''} {numbers} on training + validation data ({cases} cases)")
    log.info("refitting trials %s on %d cases", numbers, cases)
    # On --resume with every trial already finished, this session has not started Ray yet.
    tune.start_ray(spec.ray.address, num_cpus=spec.ray.num_cpus)
    refits = refit_members(
        members,
        task,
        settings,
        cpus=tune_settings.cpus_per_trial,
        gpus=tune_settings.gpus_per_trial,
        results_dir=results_dir,
        max_retries=tune_settings.max_failures,
    )
    for refit in refits:
        if not refit.succeeded:
            console.print(f"[yellow]refit of trial {refit.number} failed:[/yellow] {refit.reason}; its search model is registered instead")
    return refits


def refit_members(members, task, settings: TrialSettings, *, cpus: float, gpus: float, results_dir: str, max_retries: int = 1) -> list[Refit]:
    """Refits every trial in `members` (TrialOutcomes, best first) on Ray; returns them in order."""
    import ray

    from search.data.refit import with_validation_in_training
    from search.tune import error_reason

    merged = ray.put(with_validation_in_training(task))
    remote = ray.remote(num_cpus=cpus, num_gpus=gpus, max_retries=max_retries)(train_refit)
    pending = [(m, epochs_of(m, settings)) for m in members]
    futures = [remote.remote(m.values, m.number, epochs, merged, settings) for m, epochs in pending]
    refits = []
    for (member, epochs), future in zip(pending, futures, strict=True):
        try:
            data = ray.get(future)
        except (ray.exceptions.RayError, TrialFailed) as error:
            reason = error_reason(error)
            log.warning("refit of trial %s failed (%s); its search model is used instead", member.number, reason)
            refits.append(Refit(member.number, epochs, member.checkpoint, reason))
            continue
        path = Path(results_dir) / f"refit-{member.number}.keras"
        path.write_bytes(data)
        refits.append(Refit(member.number, epochs, str(path)))
    return refits


def epochs_of(member, settings: TrialSettings) -> int:
    """The epochs a refit trains: those after which its trial was best on validation."""
    return member.best_epoch if member.best_epoch else settings.max_epochs


def train_refit(values: dict, number: str, epochs: int, task, settings: TrialSettings, tracker=None) -> bytes:
    """Trains trial `number`'s configuration on all of `task`'s training data for `epochs` epochs.

    Runs in a Ray worker; returns the saved `.keras` file's bytes, so the driver gets the model
    on any machine of a cluster. Raises TrialFailed with the reason.
    """
    if settings.space is not None:
        values = settings.space.active(values)
    tracker = tracker or worker_tracker(settings.tracking_uri)
    run_id = tracker.start_refit(settings.experiment_id, settings.parent_run_id, number, values, epochs)
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
        reason = str(error) if isinstance(error, TrialFailed) else f"{type(error).__name__}: {error}"
        tracker.end_run(run_id, "FAILED", reason=reason)
        raise TrialFailed(reason) from error
    tracker.end_run(run_id, "FINISHED")
    return data


class _EpochLogger(keras.callbacks.Callback):
    """Per-epoch training metrics to the refit's run; a NaN loss ends the refit."""

    def __init__(self, tracker, run_id: str):
        super().__init__()
        self.tracker, self.run_id = tracker, run_id

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        logs = {name: float(value) for name, value in (logs or {}).items()}
        if not math.isfinite(logs.get("loss", math.nan)):
            raise TrialFailed(f"the training loss became {logs.get('loss')} at epoch {epoch + 1}.")
        self.tracker.log_metrics(self.run_id, logs, step=epoch + 1)
