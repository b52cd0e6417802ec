"""Small stand-ins the test packages share, each implementing a Protocol the real class satisfies.

`FakeTracker` implements search.tracker_protocols' TrialTracker, RefitTracker and SearchTracker;
`FakeRegistry` its ChampionRegistry; `FakeRunner` search.runner's TrialRunner. Their methods
have the real ones' names and parameters (tests/search/test_tracker_protocols.py pins that).
The functions above them are real objects configured for tests: trial settings, an oracle.
"""

from __future__ import annotations

import contextlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from types import SimpleNamespace

import numpy as np

from search.runner import TrialEvents, TuneOutcome, TuneSettings
from search.searcher import FINISHED, OracleSearcher
from search.tracking import RunRow
from search.trial import CHECKPOINT_FILE, HELD_OUT_FILE, STATE_FILE, TrialSettings
from search.trial_result import BEST_EPOCH, BEST_OBJECTIVE, TRIAL_NUMBER_KEY, TrialOutcome


def offline_settings(**overrides) -> TrialSettings:
    """TrialSettings for a trial trained in the test's own process: one CPU, no early stopping,
    seed 0, and tracking names no trial run reads (pass a tracker to train_trial, or none)."""
    base = dict(
        objective="val_loss",
        mode="min",
        max_epochs=1,
        patience=None,
        cpus=1,
        tracking_uri="unused",
        experiment_id="e",
        parent_run_id="p",
        seed=0,
    )
    return TrialSettings(**{**base, **overrides})


def three_parameter_space():
    """keras-tuner HyperParameters of a cell, its units and a learning rate."""
    import keras_tuner

    hp = keras_tuner.HyperParameters()
    hp.Choice("cell", ["gru", "mgu", "minimal"])
    hp.Int("units", 8, 256, step=8)
    hp.Float("learning_rate", 1e-4, 1e-2, sampling="log")
    return hp


def loss_oracle(algorithm, hyperparameters, folder, name, *, max_trials=20, seed=0, **more):
    """A real oracle of search.oracles that minimises val_loss, saved in `folder`/`name`."""
    from search.oracles import make_oracle

    return make_oracle(
        algorithm,
        hyperparameters=hyperparameters,
        objective="val_loss",
        mode="min",
        max_trials=max_trials,
        seed=seed,
        project_dir=str(folder),
        project_name=name,
        **more,
    )


def loss_searcher(oracle) -> OracleSearcher:
    """An OracleSearcher over `oracle` minimising val_loss, scoring each result's best_objective."""
    return OracleSearcher(
        oracle, metric="val_loss", mode="min", objective_of=lambda r: r["best_objective"]
    )


@dataclass
class FakeRun:
    name: str
    parent: str | None
    status: str = "RUNNING"
    reason: str | None = None
    tags: dict = field(default_factory=dict)


class FakeTracker:
    """An in-memory tracker. Tests of one run read the flat records (`params`, `tags`,
    `metrics` as (step, metrics), `ended` as (status, reason), `texts` by artifact file);
    tests of a whole search read `runs`, each run's name, parent, status and reason."""

    uri = "memory://"

    def __init__(self):
        self.params, self.metrics, self.ended, self.tags, self.texts = {}, [], [], {}, {}
        self.runs: dict[str, FakeRun] = {}
        self.experiments: dict[str, str] = {}

    def _start(self, run_id: str, name: str, parent: str | None) -> str:
        self.runs[run_id] = FakeRun(name, parent)
        return run_id

    # -- TrialTracker and RefitTracker ----------------------------------------------------

    def start_trial(self, experiment_id, parent_run_id, number, values):
        self.params.update(values)
        return self._start(f"run-{number}", f"trial-{number}", parent_run_id)

    def start_refit(self, experiment_id, parent_run_id, number, values, epochs):
        self.params.update({**values, "epochs": epochs})
        return self._start(f"refit-{number}", f"refit-{number}", parent_run_id)

    def log_params(self, run_id, params):
        self.params.update(params)

    def set_tags(self, run_id, tags):
        self.tags.update(tags)
        if run_id in self.runs:
            self.runs[run_id].tags.update(tags)

    def log_metrics(self, run_id, metrics, step=0):
        self.metrics.append((step, metrics))

    def log_text(self, run_id, text, artifact_file):
        self.texts[artifact_file] = text

    def end_run(self, run_id, status, reason=None):
        self.ended.append((status, reason))
        if run_id in self.runs:
            self.runs[run_id].status, self.runs[run_id].reason = status, reason

    def end_run_if_running(self, run_id, status):
        self.ended.append((status, "if still running"))

    # -- SearchTracker --------------------------------------------------------------------

    def ensure_experiment(self, name, artifact_location=None):
        return self.experiments.setdefault(name, str(len(self.experiments) + 1))

    def start_search(
        self, experiment_id, name, params, spec_text, *, description="", spec_path=None
    ):
        return self._start(f"search-{len(self.runs)}", name, None)

    def log_dataset(self, run_id, name, digest, source, profile, context):
        self.texts[f"dataset-{context}"] = json.dumps({"name": name, "digest": digest})

    def run(self, run_id):
        found = self.runs[run_id]  # KeyError, as the real store raises for an unknown run
        return RunRow(run_id, found.name, found.status, {}, {}, dict(found.tags), None)

    def reopen(self, run_id):
        self.runs[run_id].status, self.runs[run_id].reason = "RUNNING", None

    def close_running_children(self, experiment_id, parent_run_id, reason, status="KILLED"):
        for run in self.runs.values():
            if run.parent == parent_run_id and run.status == "RUNNING":
                run.status, run.reason = status, reason

    def stop_trial_early(self, experiment_id, parent_run_id, number, reason):
        self.end_run(f"run-{number}", "FINISHED", reason)


class FakeRegistry:
    """The model registry in memory: versions, their tags, aliases, and the locks taken."""

    uri = "memory://"

    def __init__(self):
        self.versions: dict[str, SimpleNamespace] = {}
        self.aliases: dict[str, str] = {}
        self.run_tags: dict[str, dict] = {}
        self.locks: list[str] = []

    def register(self, name, source, run_id, tags):
        version = str(len(self.versions) + 1)
        self.versions[version] = SimpleNamespace(
            version=version, tags=dict(tags), source=source, run_id=run_id
        )
        return version

    def set_tags(self, run_id, tags):
        self.run_tags.setdefault(run_id, {}).update(tags)

    def version_by_alias(self, name, alias):
        v = self.aliases.get(alias)
        return None if v is None else self.versions[v]

    def set_alias(self, name, alias, version):
        self.aliases[alias] = version

    @contextlib.contextmanager
    def exclusive(self, key):
        self.locks.append(key)
        yield


class FakeRunner:
    """Runs the searcher's trials in this process without training: each reports one epoch
    with `objective` and leaves the checkpoint a Ray worker would, so a resume finds it.
    `stop_after` trials in all, a KeyboardInterrupt stands for the driver being killed."""

    def __init__(self, objective: float = 0.5, stop_after: int | None = None, held_out=None):
        self.objective = objective
        self.stop_after = stop_after
        # held_out(number, task): the predictions a trial saves beside its checkpoint, if any.
        self.held_out = held_out
        self.starts = 0
        self.sessions: list[TuneSettings] = []  # each run_trials call's settings
        self.ran: list[str] = []  # trial numbers, in the order they ran

    def start(self, ray, resources_per_trial) -> None:
        self.starts += 1

    def run_trials(
        self, task, searcher, settings, trial_settings, *, trainer, events: TrialEvents
    ) -> TuneOutcome:
        self.sessions.append(settings)
        outcomes = []
        for index in range(settings.max_trials):
            if self.stop_after is not None and len(self.ran) >= self.stop_after:
                raise KeyboardInterrupt
            config = searcher.suggest(f"{settings.name}-{index}")
            if config in (None, FINISHED):
                break
            outcomes.append(
                self._trial(f"{settings.name}-{index}", config, searcher, settings, events, task)
            )
        return TuneOutcome(tuple(outcomes), searcher.stopped_reason)

    def _trial(self, trial_id, config, searcher, settings, events, task) -> TrialOutcome:
        number = str(config[TRIAL_NUMBER_KEY])
        events.started(number, config)
        result = {"trial_id": trial_id, TRIAL_NUMBER_KEY: number, "epoch": 1,
                  settings.objective: self.objective, BEST_OBJECTIVE: self.objective, BEST_EPOCH: 1}  # fmt: skip
        events.result(number, result)
        searcher.on_trial_result(trial_id, result)
        checkpoint = _worker_checkpoint(Path(settings.storage_dir) / settings.name, number)
        if self.held_out is not None:
            np.save(checkpoint.with_name(HELD_OUT_FILE), self.held_out(number, task))
        searcher.on_trial_complete(trial_id, result)
        events.ended(number, "COMPLETED", None)
        self.ran.append(number)
        values = {k: v for k, v in config.items() if k != TRIAL_NUMBER_KEY}
        return TrialOutcome(number, values, "COMPLETED", self.objective, None, 1, 1, None,
                            str(checkpoint), {settings.objective: (self.objective,)})  # fmt: skip


def _worker_checkpoint(experiment: Path, number: str) -> Path:
    """What a trial's worker stores beside its best model: search.tune.latest_checkpoint reads it."""
    folder = experiment / f"trial_{number}" / "checkpoint_000000"
    folder.mkdir(parents=True)
    (folder / STATE_FILE).write_text(json.dumps({"trial_number": number}))
    (folder / CHECKPOINT_FILE).write_bytes(b"not a model: the fake never trains one")
    return folder / CHECKPOINT_FILE
