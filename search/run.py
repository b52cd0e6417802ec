"""`search.run(spec)`: one whole search, from data to a registered model.

Data are prepared once, trials run on Ray (search.tune), every trial is tracked in MLflow
(search.tracking), and the best trial's model is evaluated on the test split, logged once to the
search's parent run, registered, and made champion if it beats the current one (search.registry).
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import logging
import time
from dataclasses import dataclass, field
from pathlib import Path

from search.budget import TimeBudget
from search.errors import GruSearchError
from search.tracking import Tracker
from search.trial import TrialSettings, sort_key

log = logging.getLogger("gru_search")
# In the results folder: which MLflow run and data this search belongs to, and how much trial
# time earlier sessions spent (read by --resume).
STATE_FILE = "search.json"


@dataclass(frozen=True)
class SearchResult:
    """What a finished search produced; `model_uri` is what `load_model` and `pull` take."""

    name: str
    experiment_id: str
    parent_run_id: str
    tracking_uri: str
    trials: tuple = ()
    best: object | None = None  # the best TrialOutcome
    # Trial numbers averaged into the registered model (just the best one unless search.ensemble > 1).
    ensemble_of: tuple = ()
    # Those of them trained again on training + validation data (search.refit).
    refit_of: tuple = ()
    test_metrics: dict = field(default_factory=dict)
    model_uri: str | None = None
    version: str | None = None
    champion: bool = False
    champion_reason: str = ""
    stopped_reason: str | None = None
    results_dir: str = ""
    elapsed_s: float = 0.0


def run(spec, *, quiet: bool = False, resume: bool = False, trainer=None, console=None) -> SearchResult:
    """Runs the search `spec` describes (a `search.spec.Spec`) to its end.

    With `resume`, a search whose driver stopped (killed, machine lost) continues from its results
    folder: the keras-tuner oracle's saved state says which trials finished; those are not run
    again, interrupted ones run again under the same number, and the same MLflow parent run is used.
    """
    from rich.console import Console

    from search import summary, tune
    from search.data import prepare
    from search.progress import Progress
    from search.refit import refit_for_search
    from search.searcher import OracleSearcher, make_oracle
    from search.trial import train_trial

    started = time.perf_counter()
    s, t = spec.search, spec.tracking
    # Bad data is a user error like a bad spec: found before anything is written anywhere.
    task = prepare(spec.data, s.seed)
    results_dir = Path(spec.results_dir).resolve()
    state_file = results_dir / STATE_FILE
    state = _read_state(state_file) if resume else None
    if state is not None and state.get("data_fingerprint") not in (None, task.fingerprint):
        raise GruSearchError(
            f"The data of search {spec.name!r} changed since it started (fingerprint "
            f"{state['data_fingerprint'][:12]}, now {task.fingerprint[:12]}); run it without --resume."
        )
    results_dir.mkdir(parents=True, exist_ok=True)
    _log_to_file(results_dir / "search.log")
    # --quiet drops the live table; the short final summary is still printed.
    console = console or Console()
    log.info("search %s: data %s prepared", spec.name, spec.data.source)

    tracker = Tracker(t.uri)
    experiment_id = tracker.ensure_experiment(t.experiment, t.artifact_location)
    parent_run_id = _resume_parent(state, tracker, experiment_id, spec.name) if state else None
    resume = parent_run_id is not None
    if parent_run_id is None:
        parent_run_id = tracker.start_search(experiment_id, f"{spec.name}-{time.strftime('%Y%m%d-%H%M%S')}", _settings_params(spec, task), _spec_text(spec))
    session = _next_session(results_dir)
    budget = TimeBudget(s.time_budget_minutes, float(state.get("trial_seconds", 0.0)) if resume else 0.0)

    def save_state() -> None:
        record = {"parent_run_id": parent_run_id, "experiment_id": experiment_id, "data_fingerprint": task.fingerprint, "trial_seconds": round(budget.used_s(), 1)}
        partial = state_file.with_suffix(".partial")
        partial.write_text(json.dumps(record))
        partial.replace(state_file)  # atomic: a driver killed mid-write leaves the old record

    save_state()
    tracker.set_tags(parent_run_id, {"data_fingerprint": task.fingerprint, "objective": s.objective.metric, "sessions": session + 1})

    oracle = _oracle(make_oracle, spec, results_dir, parent_run_id, reload=resume)
    # The oracle's saved state is the record of what finished; Tune's own experiment snapshot
    # lags behind it, so each session is a fresh Tune experiment and earlier ones are only read.
    finished = {str(number) for number in oracle.end_order}
    earlier = _earlier_outcomes(tune, oracle, finished, results_dir, s.objective.metric)
    settings = tune.TuneSettings(
        name=f"ray-{session}",
        scheduler=s.scheduler,
        max_trials=0 if budget.exhausted else s.max_trials - len(finished),
        max_epochs=s.max_epochs,
        grace_period=s.grace_period,
        max_failures=s.max_failures,
        concurrency=s.concurrency,
        cpus_per_trial=float(s.resources_per_trial.cpu),
        gpus_per_trial=float(s.resources_per_trial.gpu),
        objective=s.objective.metric,
        mode=s.objective.mode,
        address=spec.ray.address,
        storage_dir=str(results_dir),
        time_budget_s=budget.left_s,
    )
    trial_settings = TrialSettings(
        objective=s.objective.metric,
        mode=s.objective.mode,
        max_epochs=s.max_epochs,
        patience=s.patience,
        cpus=settings.cpus_per_trial,
        tracking_uri=tracker.uri,
        experiment_id=experiment_id,
        parent_run_id=parent_run_id,
        seed=s.seed,
        space=spec.space,
    )
    searcher = OracleSearcher(
        oracle,
        metric=s.objective.metric,
        mode=s.objective.mode,
        objective_of=lambda result: result.get("best_objective"),
        max_consecutive_failures=s.max_consecutive_failures,
    )
    progress = Progress(s.objective.metric, s.objective.mode, s.max_trials, time_budget_s=settings.time_budget_s, quiet=quiet, console=console)
    best_seen: list[float] = []

    def on_end(number, status, reason):
        save_state()  # a driver killed later resumes with the budget this trial's end left
        progress.ended(number, status, reason)
        best = progress.best()
        if best is not None and (not best_seen or best.best != best_seen[-1]):
            best_seen.append(best.best)
            tracker.log_metrics(parent_run_id, {f"best_{s.objective.metric}": best.best}, step=len(progress.rows))

    for o in earlier:
        progress.started(o.number, o.values)
        progress.result(o.number, {"epoch": o.epochs, "best_objective": o.objective})
        progress.ended(o.number, o.status, o.reason)
    outcome = tune.TuneOutcome((), budget.reason if budget.exhausted else None)
    try:
        if settings.max_trials > 0:
            tune.start_ray(spec.ray.address, num_cpus=spec.ray.num_cpus)
            budget.start()
            with progress:
                outcome = tune.run_trials(
                    task,
                    searcher,
                    settings,
                    trial_settings,
                    trainer=trainer or train_trial,
                    callbacks=[tune.tune_callback(progress.started, progress.result, on_end)],
                )
                progress.settle(outcome.trials)
    except BaseException:
        tracker.close_running_children(experiment_id, parent_run_id, "the search was interrupted")
        tracker.end_run(parent_run_id, "KILLED", reason="the search was interrupted")
        raise
    finally:
        save_state()
    if outcome.budget_reached:
        outcome = dataclasses.replace(outcome, stopped_reason=budget.reason)
        # Tune ends the trials still running at the budget; each keeps its best epoch so far.
        tracker.close_running_children(experiment_id, parent_run_id, "stopped at the search's time budget", "FINISHED")
    tracker.close_running_children(experiment_id, parent_run_id, "the trial's worker ended without closing its run")

    trials = tuple(sorted((*earlier, *outcome.trials), key=lambda o: o.number))
    result = SearchResult(
        name=spec.name,
        experiment_id=experiment_id,
        parent_run_id=parent_run_id,
        tracking_uri=tracker.uri,
        trials=trials,
        stopped_reason=outcome.stopped_reason,
        results_dir=str(results_dir),
    )
    ranked = rank_trials(trials, s.objective.mode)
    best = ranked[0] if ranked else None
    if best is None:
        reasons = "; ".join(sorted({o.reason or "unknown" for o in trials})) or "no trial ran"
        if outcome.budget_reached:
            reasons = f"{outcome.stopped_reason} before any trial reported an epoch; raise search.time_budget_minutes"
        tracker.end_run(parent_run_id, "FAILED", reason=f"no trial completed: {reasons}")
        raise GruSearchError(f"No trial of search {spec.name!r} completed ({reasons}); fix the cause and run it again.")
    members = ranked[: s.ensemble]
    try:
        refits = refit_for_search(spec, task, members, trial_settings, settings, str(results_dir), console, quiet) if s.refit else ()
        result = summary.finish(spec, task, tracker, result, members, started, refits)
    except BaseException as error:
        # The trials are done and kept (oracle state, checkpoints): --resume goes straight to this end.
        reason = f"choosing and registering the model failed: {type(error).__name__}: {error}"
        with contextlib.suppress(Exception):  # the store may be what failed; the error above matters
            tracker.end_run(parent_run_id, "FAILED", reason=reason[:5000])
        raise
    summary.print_summary(console, result, spec)
    return result


def pick_best(trials, mode: str, tiebreak_mode: str = "min"):
    """The best completed trial with a checkpoint; ties on the objective go to the lower val_loss."""
    ranked = rank_trials(trials, mode, tiebreak_mode)
    return ranked[0] if ranked else None


def rank_trials(trials, mode: str, tiebreak_mode: str = "min") -> list:
    """Completed trials with a checkpoint, best first (objective, then val_loss, then number)."""
    usable = [o for o in trials if o.status == "COMPLETED" and o.checkpoint and o.objective is not None]
    return sorted(usable, key=lambda o: (*sort_key(o.objective, o.tiebreak, mode, tiebreak_mode), o.number))


def _oracle(make_oracle, spec, results_dir: Path, parent_run_id: str, *, reload: bool):
    import keras_tuner

    from space.keras_tuner import declare

    hp = keras_tuner.HyperParameters()
    declare(spec.space, hp)
    s = spec.search
    oracle = make_oracle(
        s.algorithm,
        hyperparameters=hp,
        objective=s.objective.metric,
        mode=s.objective.mode,
        max_trials=s.max_trials,
        seed=s.seed,
        project_dir=str(results_dir),
        # One oracle per search (its parent run), found again by --resume.
        project_name=f"oracle-{parent_run_id}",
    )
    if reload and Path(oracle._get_oracle_fname()).is_file():
        # Trials that were running go to the oracle's retry queue and run again under their number.
        oracle.reload()
    return oracle


def _earlier_outcomes(tune, oracle, finished: set[str], results_dir: Path, objective: str) -> list:
    """Outcomes of the trials earlier sessions finished: the oracle's record, plus the checkpoint
    each trial's worker stored (Tune's own result files may be unwritten when a driver is killed)."""
    from search.searcher import recorded

    outcomes = []
    for number in sorted(finished):
        record = recorded(oracle.trials[number])
        checkpoint = tune.latest_checkpoint(str(results_dir), number)
        completed = record["status"] == "COMPLETED" and record["objective"] is not None
        reason = None if completed else (record["message"] or "the trial failed")
        if completed and checkpoint is None:
            completed, reason = False, "its checkpoint is missing from the results folder"
        outcomes.append(tune.TrialOutcome(
            number=number,
            values=record["values"],
            status="COMPLETED" if completed else "FAILED",
            objective=record["objective"] if completed else None,
            tiebreak=record["tiebreak"],
            best_epoch=record["best_epoch"],
            epochs=record["epochs"],
            reason=reason,
            checkpoint=checkpoint,
            curves=record["curves"],
        ))
    return outcomes


def _next_session(results_dir: Path) -> int:
    """Each driver session of a search runs its trials in its own Tune experiment, ray-0, ray-1, ..."""
    used = [int(p.name[4:]) for p in results_dir.glob("ray-*") if p.name[4:].isdigit()]
    return max(used, default=-1) + 1


def _settings_params(spec, task) -> dict:
    s = spec.search
    return {
        "algorithm": s.algorithm,
        "scheduler": s.scheduler,
        "max_trials": s.max_trials,
        "max_epochs": s.max_epochs,
        "concurrency": s.concurrency,
        "cpus_per_trial": s.resources_per_trial.cpu,
        "gpus_per_trial": s.resources_per_trial.gpu,
        "objective": s.objective.metric,
        "objective_mode": s.objective.mode,
        "seed": s.seed,
        "data_source": spec.data.source,
        "data_fingerprint": task.fingerprint,
        "train_cases": len(task.x_train),
        "validation_cases": len(task.x_val),
        "test_cases": len(task.x_test),
        "ray_address": spec.ray.address,
    }


def _spec_text(spec) -> str:
    """The validated spec as JSON (defaults filled in): what this search really ran."""
    sections = {
        name: dataclasses.asdict(getattr(spec, name)) for name in ("data", "search", "tracking", "ray")
    }
    return json.dumps({"name": spec.name, **sections, "space": spec.space.to_dict(), "results_dir": spec.results_dir}, indent=2, default=str)


def _read_state(state_file: Path) -> dict | None:
    if not state_file.is_file():
        return None
    try:
        return json.loads(state_file.read_text())
    except ValueError:
        return None


def _resume_parent(state: dict, tracker: Tracker, experiment_id: str, name: str) -> str | None:
    """The parent run of the search to resume, reopened; None when there is nothing to resume."""
    run_id = state.get("parent_run_id")
    if not run_id or state.get("experiment_id") != experiment_id:
        return None
    try:
        parent = tracker.run(run_id)
    except Exception:  # deleted, or another store: start afresh
        return None
    if parent.status == "FINISHED":
        raise GruSearchError(
            f"Search {name!r} (run {run_id}) already finished; run it without --resume to start a new one."
        )
    # Trials of the stopped session that never closed their run: their driver is gone.
    tracker.close_running_children(experiment_id, run_id, "the search's driver stopped before the trial ended")
    tracker.client.update_run(run_id, status="RUNNING")
    log.info("resuming search run %s", run_id)
    return run_id


def _log_to_file(path: Path) -> None:
    """Everything the search logs (and Ray's warnings) goes to the results folder, not the terminal."""
    handler = logging.FileHandler(path)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    for name in ("gru_search", "ray"):
        logger = logging.getLogger(name)
        # Ray's own stderr handler would write through the live table.
        logger.handlers = [h for h in logger.handlers if type(h) is not logging.StreamHandler and not isinstance(h, logging.FileHandler)]
        logger.addHandler(handler)
        logger.propagate = False
    logging.getLogger("gru_search").setLevel(logging.INFO)
