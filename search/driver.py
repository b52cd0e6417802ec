"""`search.run(spec)`: one whole search, from data to a registered model.

A `Search` owns one search's life, in the order its methods run: the data are prepared once
(`_prepare`), the search's MLflow parent run is opened or, on `--resume`, reopened (`_open`),
trials run through the `TrialRunner` (`_run_trials`; search.runner, Ray Tune in search.tune;
each tracked in MLflow by search.trial), and the chosen trials' model is refit, tested, logged,
registered and made champion if it beats the current one (`_finish`; search.selection,
search.refit, search.summary, search.registry).

The results folder keeps what a resume needs: `search.json` (search.state), the keras-tuner
oracle's record of finished trials (search.oracles), and each trial's checkpoints.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import logging
import time
from dataclasses import dataclass, field
from pathlib import Path

from search.budget import (
    RefitGauge,
    TimeBudget,
    epochs_of,
    refit_growth,
    refit_share_s,
    registration_reserve_s,
)
from search.data.folds import bags_fold_models, resolve_folds
from search.ensemble_selection import MAX_CANDIDATES, select_ensemble
from search.errors import GruSearchError
from search.runner import TrialEvents, TrialRunner, TuneOutcome, TuneSettings
from search.selection import ensemble_members
from search.spec.model import resolve_ensemble_selection
from search.state import SearchState
from search.store import with_store
from search.tracking import Tracker, best_metric
from search.trial import TrialSettings
from search.trial_result import BEST_OBJECTIVE, TrialOutcome
from search.tune import RayTuneRunner

log = logging.getLogger("gru_search")


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
    # Their weights in the average (search.ensemble_selection), summing to 1.
    ensemble_weights: tuple = ()
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


def run(
    spec, *, quiet: bool = False, resume: bool = False, trainer=None, console=None
) -> SearchResult:
    """Runs the search `spec` describes (a `search.spec.Spec`) to its end.

    With `resume`, a search whose driver stopped (killed, machine lost) continues from its results
    folder: the keras-tuner oracle's saved state says which trials finished; those are not run
    again, interrupted ones run again under the same number, and the same MLflow parent run is used.
    `trainer` replaces `search.trial.train_trial` (tests inject faults with it).
    """
    return Search(spec, quiet=quiet, trainer=trainer, console=console).run(resume=resume)


class Search:
    """One search, from its spec to its registered model; `run` calls the steps in order.

    The outside world comes in through `tracker` (MLflow; made from the spec's tracking.uri when
    None) and `runner` (where the trials train; Ray Tune when None), so tests can pass fakes.
    """

    def __init__(
        self,
        spec,
        *,
        quiet: bool = False,
        trainer=None,
        console=None,
        tracker: Tracker | None = None,
        runner: TrialRunner | None = None,
    ):
        from rich.console import Console

        # --tracking-uri, the spec's tracking.uri, $MLFLOW_TRACKING_URI, or mlflow.db beside the spec.
        self.spec = with_store(spec)
        self.quiet = quiet
        self.trainer = trainer
        # --quiet drops the live table; the short final summary is still printed.
        self.console = console or Console()
        self.tracker = tracker  # made by _open, after the data are known to be good
        self.runner = runner or RayTuneRunner()
        self.results_dir = Path(self.spec.results_dir).resolve()
        self.started = time.perf_counter()

    def run(self, *, resume: bool = False) -> SearchResult:
        from search import summary

        self._prepare(resume)
        self._open(resume)
        trials, stopped_reason = self._run_trials()
        result = self._finish(trials, stopped_reason)
        summary.print_summary(self.console, result, self.spec)
        return result

    # -- the steps -------------------------------------------------------------------------

    def _prepare(self, resume: bool) -> None:
        """The data, checked against what an earlier session of this search trained on."""
        from search.data import prepare

        # Bad data is a user error like a bad spec: found before anything is written anywhere.
        self.task = prepare(self.spec.data, self.spec.search.seed)
        self.state = SearchState.load(self.results_dir) if resume else None
        if self.state is not None and self.state.data_fingerprint not in (
            None,
            self.task.fingerprint,
        ):
            raise GruSearchError(
                f"The data of search {self.spec.name!r} changed since it started (fingerprint "
                f"{self.state.data_fingerprint[:12]}, now {self.task.fingerprint[:12]}); run it without --resume."
            )
        self.results_dir.mkdir(parents=True, exist_ok=True)
        _log_to_file(self.results_dir / "search.log")
        log.info("search %s: data %s prepared", self.spec.name, self.spec.data.source)

    def _open(self, resume: bool) -> None:
        """The parent run (a new one, or the stopped search's), the folds and the time budget."""
        s, t = self.spec.search, self.spec.tracking
        # First: folds the data cannot hold are a user error, raised before any run is opened.
        self.folds = resolve_folds(s.folds, self.task, s.time_budget_minutes)
        self.tracker = self.tracker or Tracker(t.uri)
        self.experiment_id = self.tracker.ensure_experiment(t.experiment, t.artifact_location)
        parent = self._resumed_parent() if self.state else None
        self.resumed = parent is not None
        self.parent_run_id = parent or self._start_parent()
        self.session = _next_session(self.results_dir)
        # The fold models each registered trial brings: none are left where a refit replaces
        # them (rolling origins: the fold models have not seen the latest windows).
        replaced = self.folds == 1 or (s.refit and not bags_fold_models(self.task))
        self.registered_folds = 1 if replaced else self.folds
        spent = self.state.trial_seconds if self.resumed else 0.0
        self.budget = TimeBudget(
            s.time_budget_minutes,
            float(spent),
            reserve_s=registration_reserve_s(s, self.registered_folds),
            refit_share_s=refit_share_s(s, self.registered_folds),
        )
        self._save_state()
        self.tracker.set_tags(
            self.parent_run_id,
            {
                "data_fingerprint": self.task.fingerprint,
                "objective": s.objective.metric,
                "sessions": self.session + 1,
            },
        )

    def _run_trials(self) -> tuple[tuple, str | None]:
        """Every trial of the search, earlier sessions' included, and why the trials stopped."""
        from search.oracles import oracle_for
        from search.progress import Progress

        s = self.spec.search
        oracle = oracle_for(self.spec, self.results_dir, self.parent_run_id, reload=self.resumed)
        # The oracle's saved state is the record of what finished; Tune's own experiment snapshot
        # lags behind it, so each session is a fresh Tune experiment and earlier ones are only read.
        earlier = _earlier_outcomes(oracle, self.results_dir)
        self.tune_settings = self._tune_settings(
            max_trials=0 if self.budget.exhausted else s.max_trials - len(earlier)
        )
        self.trial_settings = self._trial_settings()
        self.refit_gauge = self._refit_gauge(earlier)
        if self.folds > 1 and bags_fold_models(self.task):
            log.info("each trial is cross-validated over %d folds", self.folds)
        elif self.folds > 1:
            log.info("each trial is validated at %d rolling origins", self.folds)
        self.progress = Progress(
            s.objective.metric,
            s.objective.mode,
            s.max_trials,
            time_budget_s=self.tune_settings.time_budget_s,
            quiet=self.quiet,
            console=self.console,
        )
        self._best_seen: list[float] = []
        for o in earlier:
            self.progress.started(o.number, o.values)
            self.progress.result(o.number, {"epoch": o.epochs, BEST_OBJECTIVE: o.objective})
            self.progress.ended(o.number, o.status, o.reason)
        outcome = TuneOutcome((), self.budget.reason if self.budget.exhausted else None)
        try:
            if self.tune_settings.max_trials > 0:
                outcome = self._tune(oracle)
        except BaseException as error:
            status, reason = _ended_by(error)
            self.tracker.close_running_children(self.experiment_id, self.parent_run_id, reason)
            self.tracker.end_run(self.parent_run_id, status, reason=reason)
            raise
        finally:
            self._save_state()
        stopped_reason = outcome.stopped_reason
        if outcome.budget_reached:
            stopped_reason = self.budget.reason
            # Tune ends the trials still running at the budget; each keeps its best epoch so far.
            self.tracker.close_running_children(
                self.experiment_id,
                self.parent_run_id,
                "stopped at the search's time budget",
                "FINISHED",
            )
        self.tracker.close_running_children(
            self.experiment_id,
            self.parent_run_id,
            "the trial's worker ended without closing its run",
        )
        self.budget_reached = outcome.budget_reached
        return tuple(sorted((*earlier, *outcome.trials), key=lambda o: o.number)), stopped_reason

    def _tune(self, oracle) -> TuneOutcome:
        from search.searcher import OracleSearcher
        from search.trial import train_trial

        s = self.spec.search
        searcher = OracleSearcher(
            oracle,
            metric=s.objective.metric,
            mode=s.objective.mode,
            objective_of=lambda result: result.get(BEST_OBJECTIVE),
            max_consecutive_failures=s.max_consecutive_failures,
        )
        self.budget.start()  # Ray's start-up counts: the budget is the whole search's
        self.runner.start(self.spec.ray, s.resources_per_trial)
        events = TrialEvents(
            started=self.progress.started,
            result=self._trial_result,
            ended=self._trial_ended,
            stopped_early=self._trial_stopped_early,
        )
        with self.progress:
            outcome = self.runner.run_trials(
                self.task,
                searcher,
                self.tune_settings,
                self.trial_settings,
                trainer=self.trainer or train_trial,
                events=events,
            )
            self.progress.settle(outcome.trials)
        return outcome

    def _finish(self, trials: tuple, stopped_reason: str | None) -> SearchResult:
        """The registered model from the best trials: chosen, refit, tested, logged, registered."""
        from search import summary
        from search.refit import SearchRefit, refit_within_budget
        from search.selection import rank_trials

        s = self.spec.search
        result = SearchResult(
            name=self.spec.name,
            experiment_id=self.experiment_id,
            parent_run_id=self.parent_run_id,
            tracking_uri=self.tracker.uri,
            trials=trials,
            stopped_reason=stopped_reason,
            results_dir=str(self.results_dir),
        )
        ranked = rank_trials(trials, s.objective.mode)
        if not ranked:
            self._fail_without_trials(trials, stopped_reason)
        task = self.task
        try:
            members, weights = self._ensemble(ranked)
            refits = ()
            # Bagged fold models have trained on every case between them: nothing to refit.
            if s.refit and self.registered_folds == 1:
                search = SearchRefit(self.spec, task, self.trial_settings, self.tune_settings,
                                     str(self.results_dir), self.console, self.quiet)  # fmt: skip
                refits = refit_within_budget(search, members, self.budget)
            return summary.finish(
                self.spec, task, self.tracker, result, members, self.started, refits, weights
            )
        except BaseException as error:
            # The trials are done and kept (oracle state, checkpoints): --resume goes straight to this end.
            reason = f"choosing and registering the model failed: {type(error).__name__}: {error}"
            with contextlib.suppress(
                Exception
            ):  # the store may be what failed; the error above matters
                self.tracker.end_run(self.parent_run_id, "FAILED", reason=reason[:5000])
            raise

    # -- pieces of the steps ---------------------------------------------------------------

    def _ensemble(self, ranked: list) -> tuple[list, list[int]]:
        """(the registered model's trials, best ranked first; their weights): greedy ensemble
        selection on the best trials' held-out predictions (search.ensemble_selection), or the
        top trials by objective (search.selection)."""
        s, task = self.spec.search, self.task
        if resolve_ensemble_selection(s.ensemble_selection, task.kind) == "top":
            cases = len(task.x_train) + len(task.x_val) if self.folds > 1 else len(task.x_val)
            members = ensemble_members(ranked, s.ensemble, s.objective.metric, cases)
            if len(members) < min(s.ensemble, len(ranked)):
                log.info(
                    "averaging %d of the top %d trials: the others are clearly worse on validation",
                    len(members), s.ensemble,
                )  # fmt: skip
            return members, [1] * len(members)
        started = time.perf_counter()
        seed = self.trial_settings.seed
        members, weights = select_ensemble(ranked, task, s.objective, s.ensemble, self.folds, seed)
        if len(ranked) > 1 and s.ensemble > 1:
            chosen = ", ".join(f"{m.number} x{w}" for m, w in zip(members, weights, strict=True))
            log.info(
                "ensemble selection over the best %d trials (%.1f s): %s",
                min(len(ranked), MAX_CANDIDATES), time.perf_counter() - started, chosen,
            )  # fmt: skip
        return members, weights

    def _start_parent(self) -> str:
        """A new parent run, with the search's settings, its spec and its data set."""
        name = f"{self.spec.name}-{time.strftime('%Y%m%d-%H%M%S')}"
        task = self.task
        run_id = self.tracker.start_search(
            self.experiment_id,
            name,
            _settings_params(self.spec, task),
            _spec_text(self.spec),
            description=_description(self.spec),
            spec_path=self.spec.path,
        )
        profile = {"train_cases": len(task.x_train), "validation_cases": len(task.x_val), "test_cases": len(task.x_test),
                   "input_shape": list(task.input_shape), "features": list(task.feature_names)}  # fmt: skip
        source = {"source": str(self.spec.data.source), "task": task.kind}
        self.tracker.log_dataset(
            run_id, str(self.spec.data.source), task.fingerprint[:16], source, profile, "training"
        )
        return run_id

    def _resumed_parent(self) -> str | None:
        """The parent run of the search to resume, reopened; None when there is nothing to resume."""
        run_id = self.state.parent_run_id
        if not run_id or self.state.experiment_id != self.experiment_id:
            return None
        try:
            parent = self.tracker.run(run_id)
        except Exception:  # deleted, or another store: start afresh
            return None
        if parent.status == "FINISHED":
            raise GruSearchError(
                f"Search {self.spec.name!r} (run {run_id}) already finished; run it without --resume to start a new one."
            )
        # Trials of the stopped session that never closed their run: their driver is gone.
        self.tracker.close_running_children(
            self.experiment_id, run_id, "the search's driver stopped before the trial ended"
        )
        self.tracker.reopen(run_id)
        log.info("resuming search run %s", run_id)
        return run_id

    def _save_state(self) -> None:
        SearchState(
            self.parent_run_id, self.experiment_id, self.task.fingerprint, self.budget.used_s()
        ).save(self.results_dir)

    def _tune_settings(self, max_trials: int) -> TuneSettings:
        s = self.spec.search
        return TuneSettings(
            name=f"ray-{self.session}",
            scheduler=s.scheduler,
            max_trials=max_trials,
            max_epochs=s.max_epochs,
            grace_period=s.grace_period,
            max_failures=s.max_failures,
            concurrency=s.concurrency,
            cpus_per_trial=float(s.resources_per_trial.cpu),
            gpus_per_trial=float(s.resources_per_trial.gpu),
            objective=s.objective.metric,
            mode=s.objective.mode,
            address=self.spec.ray.address,
            storage_dir=str(self.results_dir),
            time_budget_s=self.budget.most_left_s,
            stop_trials=self._trials_over if self.budget.refit_share_s else None,
        )

    def _refit_gauge(self, earlier: list) -> RefitGauge:
        """What the refit of the best trials so far would take, earlier sessions' trials included."""
        s = self.spec.search
        gauge = RefitGauge(
            s.ensemble,
            s.objective.mode,
            lambda member: epochs_of(member, self.trial_settings),
            parallel=s.concurrency,
            growth=refit_growth(self.task, self.trial_settings),
        )
        for outcome in earlier:
            gauge.add_finished(outcome)
        return gauge

    def _trials_over(self) -> bool:
        """Tune asks between results: the trials end once what is left is what the registration
        and the refit of the best trials so far need (search.budget.RefitGauge)."""
        refit_s = self.refit_gauge.estimate_s()
        if not self.budget.trials_over(refit_s):
            return False
        b = self.budget
        kept = b.kept_for_refit(refit_s)
        log.info(
            "trials stopped after %.0f s of the %g-minute budget: %.0f s of the %.0f s share kept "
            "for the refit (the best trials' refit estimated at %s), %.0f s for the registration",
            b.used_s(), b.minutes, kept, b.refit_share_s,
            "?" if refit_s is None else f"{refit_s:.0f} s", b.reserve_s,
        )  # fmt: skip
        return True

    def _trial_result(self, number: str, result: dict) -> None:
        self.progress.result(number, result)
        self.refit_gauge.update(number, result, BEST_OBJECTIVE)

    def _trial_settings(self) -> TrialSettings:
        s = self.spec.search
        return TrialSettings(
            objective=s.objective.metric,
            mode=s.objective.mode,
            max_epochs=s.max_epochs,
            patience=s.patience,
            cpus=float(s.resources_per_trial.cpu),
            tracking_uri=self.tracker.uri,
            experiment_id=self.experiment_id,
            parent_run_id=self.parent_run_id,
            seed=s.seed,
            space=self.spec.space,
            folds=self.folds,
        )

    def _trial_ended(self, number, status, reason) -> None:
        self._save_state()  # a driver killed later resumes with the budget this trial's end left
        self.progress.ended(number, status, reason)
        best = self.progress.best()
        if best is not None and (not self._best_seen or best.best != self._best_seen[-1]):
            self._best_seen.append(best.best)
            # Step: trials ended so far, so the chart runs forwards (summary.finish logs the last).
            ended = sum(row.status != "RUNNING" for row in self.progress.rows.values())
            metric = best_metric(self.spec.search.objective.metric)
            self.tracker.log_metrics(self.parent_run_id, {metric: best.best}, step=ended)

    def _trial_stopped_early(self, number: str, epoch: int) -> None:
        s = self.spec.search
        scheduler = {"asha": "ASHA", "hyperband": "HyperBand"}.get(s.scheduler, s.scheduler)
        reason = f"stopped early by the {scheduler} scheduler at epoch {epoch} of {s.max_epochs}; its best epoch counts"
        self.tracker.stop_trial_early(self.experiment_id, self.parent_run_id, number, reason)

    def _fail_without_trials(self, trials: tuple, stopped_reason: str | None) -> None:
        reasons = "; ".join(sorted({o.reason or "unknown" for o in trials})) or "no trial ran"
        if self.budget_reached:
            reasons = f"{stopped_reason} before any trial reported an epoch; raise search.time_budget_minutes"
        self.tracker.end_run(self.parent_run_id, "FAILED", reason=f"no trial completed: {reasons}")
        raise GruSearchError(
            f"No trial of search {self.spec.name!r} completed ({reasons}); fix the cause and run it again."
        )


def _earlier_outcomes(oracle, results_dir: Path) -> list:
    """Outcomes of the trials earlier sessions finished: the oracle's record, plus the checkpoint
    each trial's worker stored (Tune's own result files may be unwritten when a driver is killed)."""
    from search import tune
    from search.searcher import recorded

    outcomes = []
    for number in sorted(str(n) for n in oracle.end_order):
        record = recorded(oracle.trials[number])
        checkpoint = tune.latest_checkpoint(str(results_dir), number)
        completed = record["status"] == "COMPLETED" and record["objective"] is not None
        reason = None if completed else (record["message"] or "the trial failed")
        if completed and checkpoint is None:
            completed, reason = False, "its checkpoint is missing from the results folder"
        outcomes.append(TrialOutcome(
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
            seconds=record["seconds"],
        ))  # fmt: skip
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


def _ended_by(error: BaseException) -> tuple[str, str]:
    """The parent run's status and reason when the trials' phase raised `error`: KILLED when
    someone stopped it (Ctrl-C, a signal), FAILED with the message otherwise."""
    if not isinstance(error, Exception):
        return "KILLED", "the search was interrupted"
    message = (
        str(error) if isinstance(error, GruSearchError) else f"{type(error).__name__}: {error}"
    )
    return "FAILED", message[:5000]


def _description(spec) -> str:
    """The parent run's description: what `gru-search validate` prints of the spec, the defaults
    resolved, so the run page says what ran without opening spec.json."""
    from search.spec.summary import summary

    return "```\n" + summary(spec) + "\n```"


def _spec_text(spec) -> str:
    """The validated spec as JSON (defaults filled in): what this search really ran."""
    sections = {
        name: dataclasses.asdict(getattr(spec, name))
        for name in ("data", "search", "tracking", "ray")
    }
    return json.dumps(
        {
            "name": spec.name,
            **sections,
            "space": spec.space.to_dict(),
            "results_dir": spec.results_dir,
        },
        indent=2,
        default=str,
    )


def _log_to_file(path: Path) -> None:
    """Everything the search logs (and Ray's warnings) goes to the results folder, not the terminal."""
    handler = logging.FileHandler(path)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    for name in ("gru_search", "ray"):
        logger = logging.getLogger(name)
        # Ray's own stderr handler would write through the live table.
        logger.handlers = [
            h
            for h in logger.handlers
            if type(h) is not logging.StreamHandler and not isinstance(h, logging.FileHandler)
        ]
        logger.addHandler(handler)
        logger.propagate = False
    logging.getLogger("gru_search").setLevel(logging.INFO)
