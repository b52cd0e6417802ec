"""A keras-tuner Oracle driven as a Ray Tune `Searcher`.

keras-tuner brings the search algorithms (random, grid, Bayesian optimisation over conditional
spaces); Ray Tune brings placement, parallelism and early-stopping schedulers. This adapter asks
the oracle for one trial per Ray trial (each Ray trial id is its own keras-tuner `tuner_id`, so
concurrent trials never share a proposal) and hands results back when Tune finishes a trial.
Tune delivers the last result only to `on_trial_complete`, so the score is recorded there.
"""

from __future__ import annotations

import contextlib
import io
import os
import warnings
from collections.abc import Callable
from dataclasses import dataclass

# Tune warns when handling a trial's result takes over 0.5 s ("consider reporting results less
# frequently"): on a busy 2-core machine our per-epoch reports cross that now and then, and the
# advice is not the user's to follow. Tune reads the threshold once, when it is first imported.
os.environ.setdefault("TUNE_WARN_THRESHOLD_S", "5")

import numpy as np  # noqa: E402
from ray import cloudpickle  # noqa: E402
from ray.tune.search import Searcher  # noqa: E402

# Statuses keras-tuner uses, as strings, so this module does not need keras_tuner imported.
_RUNNING, _STOPPED, _COMPLETED, _FAILED = "RUNNING", "STOPPED", "COMPLETED", "FAILED"

# Key of the oracle's trial number inside each Tune config (shown in the table and MLflow).
TRIAL_NUMBER_KEY = "trial_number"
# Result key of a trial that failed on its own, with the reason (set by search.tune).
FAILED_KEY = "failed_reason"


@dataclass(frozen=True)
class TrialProposal:
    """What the searcher proposed for one Ray trial."""

    number: str
    values: dict


def plain(value):
    """NumPy scalars -> Python scalars: Keras constructors reject `np.int64` units."""
    if isinstance(value, np.generic):
        return value.item()
    return value


class OracleSearcher(Searcher):
    """Wraps a keras-tuner Oracle (already built with its HyperParameters) for Ray Tune.

    `objective_of(result)` extracts the trial's score from its final Tune result (the best epoch's
    objective, not the last epoch's); it returns None when the trial reported nothing usable.
    After `max_consecutive_failures` failed trials in a row the searcher stops proposing.
    """

    def __init__(
        self,
        oracle,
        *,
        metric: str,
        mode: str,
        objective_of: Callable[[dict], float | None],
        max_consecutive_failures: int = 3,
    ):
        super().__init__(metric=metric, mode=mode)
        self._oracle = oracle
        self._objective_of = objective_of
        self._max_consecutive_failures = max_consecutive_failures
        self._proposals: dict[str, TrialProposal] = {}
        self._epochs: dict[str, dict[int, dict]] = {}
        self._kt_trials: dict[str, object] = {}
        # A reloaded oracle (a resumed search) already holds finished trials: count its tail of failures.
        self._consecutive_failures = _trailing_failures(oracle)
        self.stopped_reason: str | None = None

    # -- Tune's side -------------------------------------------------------------------------

    def set_search_properties(self, metric, mode, config, **spec) -> bool:
        # Metric and mode come from the spec at construction; the space lives in the oracle.
        return True

    def suggest(self, trial_id: str) -> dict | None:
        if self.stopped_reason is not None:
            return Searcher.FINISHED
        with _silenced():
            kt_trial = self._oracle.create_trial(trial_id)
        status = str(getattr(kt_trial.status, "value", kt_trial.status))
        if status == _STOPPED:
            self.stopped_reason = "the search algorithm has explored its whole space"
            return Searcher.FINISHED
        if status != _RUNNING:
            return None  # IDLE: the oracle waits for running trials; Tune asks again later.
        values = {name: plain(v) for name, v in kt_trial.hyperparameters.values.items()}
        self._proposals[trial_id] = TrialProposal(number=kt_trial.trial_id, values=values)
        self._kt_trials[trial_id] = kt_trial
        return {**values, TRIAL_NUMBER_KEY: kt_trial.trial_id}

    def on_trial_result(self, trial_id: str, result: dict) -> None:
        if trial_id in self._kt_trials and _finite(result.get("epoch")):
            row = {k: float(v) for k, v in result.items() if _curve_key(k, self.metric) and _finite(v)}
            self._epochs.setdefault(trial_id, {})[int(result["epoch"])] = row

    def on_trial_complete(self, trial_id: str, result: dict | None = None, error: bool = False):
        kt_trial = self._kt_trials.pop(trial_id, None)
        epochs = self._epochs.pop(trial_id, {})
        if kt_trial is None:
            return
        score = None if error or not result else self._objective_of(result)
        ok = score is not None and np.isfinite(score)
        with _silenced():
            if ok:
                # The oracle's trial.json is the search's record (read back by a resumed search):
                # each epoch's metrics at its step, and the best epoch's summary at step 0.
                name = self._oracle.objective.name
                for epoch, row in sorted(epochs.items()):
                    self._oracle.update_trial(kt_trial.trial_id, {name: float(score), **row}, step=epoch)
                summary = {k: float(result[k]) for k in SUMMARY_KEYS if _finite(result.get(k))}
                self._oracle.update_trial(kt_trial.trial_id, {**summary, name: float(score)}, step=0)
            kt_trial.status = _COMPLETED if ok else _FAILED
            # Saved in the oracle's trial.json: a resumed search reads why it failed from there.
            kt_trial.message = None if ok else str((result or {}).get(FAILED_KEY) or "the trial failed")
            self._oracle.end_trial(kt_trial)
        self._consecutive_failures = 0 if ok else self._consecutive_failures + 1
        if self._consecutive_failures >= self._max_consecutive_failures and self.stopped_reason is None:
            self.stopped_reason = (
                f"{self._consecutive_failures} trials failed in a row "
                f"(search.max_consecutive_failures is {self._max_consecutive_failures})"
            )

    # -- our side ----------------------------------------------------------------------------

    def proposal(self, trial_id: str) -> TrialProposal | None:
        return self._proposals.get(trial_id)

    def get_state(self) -> dict:
        return {
            "oracle": self._oracle,
            "proposals": self._proposals,
            "consecutive_failures": self._consecutive_failures,
            "stopped_reason": self.stopped_reason,
        }

    def set_state(self, state: dict) -> None:
        self._oracle = state["oracle"]
        self._proposals = state["proposals"]
        self._consecutive_failures = state["consecutive_failures"]
        self.stopped_reason = state["stopped_reason"]

    def save(self, checkpoint_path: str) -> None:
        # Trials running at save time are re-run on restore, so their oracle entries are dropped.
        with open(checkpoint_path, "wb") as handle:
            cloudpickle.dump(self.get_state(), handle)

    def restore(self, checkpoint_path: str) -> None:
        with open(checkpoint_path, "rb") as handle:
            self.set_state(cloudpickle.load(handle))


# Result keys kept at step 0 of a finished trial's record: its best epoch and how long it ran.
SUMMARY_KEYS = ("best_objective", "best_tiebreak", "best_epoch", "epoch")


def _curve_key(key: str, objective: str) -> bool:
    return key in ("loss", "accuracy", "mae", objective) or key.startswith("val_")


def _finite(value) -> bool:
    try:
        return bool(np.isfinite(float(value)))
    except (TypeError, ValueError):
        return False


def recorded(kt_trial) -> dict:
    """What a finished trial's record in the oracle says: values, summary and per-epoch curves."""
    metrics = kt_trial.metrics

    def at(name: str, step: int):
        for observation in metrics.get_history(name) if metrics.exists(name) else ():
            if observation.step == step:
                return float(observation.value[0])
        return None

    curves = {}
    for name in metrics.metrics:
        if name in SUMMARY_KEYS:
            continue
        points = sorted((o.step, float(o.value[0])) for o in metrics.get_history(name) if o.step >= 1)
        if points:
            curves[name] = tuple(v for _, v in points)
    status = str(getattr(kt_trial.status, "value", kt_trial.status))
    return {
        "values": {k: plain(v) for k, v in kt_trial.hyperparameters.values.items()},
        "status": status,
        "message": kt_trial.message,
        "objective": kt_trial.score if status == _COMPLETED else None,
        "tiebreak": at("best_tiebreak", 0),
        "best_epoch": int(at("best_epoch", 0)) if at("best_epoch", 0) else None,
        "epochs": int(at("epoch", 0) or 0),
        "curves": curves,
    }


def _trailing_failures(oracle) -> int:
    count = 0
    for trial_id in getattr(oracle, "end_order", []):
        status = str(getattr(oracle.trials[trial_id].status, "value", oracle.trials[trial_id].status))
        count = count + 1 if status == _FAILED else 0
    return count


@contextlib.contextmanager
def _silenced():
    """keras-tuner's oracle prints a banner per trial; the search has its own progress table.

    The Bayesian oracle's Gaussian process also warns (sklearn's ConvergenceWarning) whenever a
    kernel length scale sits at its bound: routine on a handful of points, noise to a user.
    """
    from sklearn.exceptions import ConvergenceWarning

    with contextlib.redirect_stdout(io.StringIO()), warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        yield


def make_oracle(algorithm: str, *, hyperparameters, objective: str, mode: str, max_trials: int,
                seed: int, project_dir: str, project_name: str):
    """Builds the keras-tuner oracle for `algorithm`, seeded exactly (seed 0 included)."""
    import keras_tuner

    classes = {
        "random": keras_tuner.oracles.RandomSearchOracle,
        "grid": keras_tuner.oracles.GridSearchOracle,
        "bayesian": keras_tuner.oracles.BayesianOptimizationOracle,
    }
    if algorithm not in classes:
        raise ValueError(f"search.algorithm must be one of {sorted(classes)}, but got {algorithm!r}.")
    oracle = classes[algorithm](
        objective=keras_tuner.Objective(objective, direction=mode),
        max_trials=max_trials,
        hyperparameters=hyperparameters,
        seed=seed,
        # The searcher counts consecutive failures itself; the oracle's check raises instead.
        max_consecutive_failed_trials=10**9,
        allow_new_entries=False,
        tune_new_entries=False,
    )
    _force_seed(oracle, seed)
    oracle.verbose = 0
    # The oracle writes trial.json files here and refuses create_trial without it.
    oracle._set_project_dir(project_dir, project_name)
    return oracle


def _force_seed(oracle, seed: int) -> None:
    """keras-tuner reads `seed or random.randint(...)`, so seed 0 would mean 'unseeded'."""
    oracle.seed = seed
    oracle._seed_state = seed
    if hasattr(oracle, "_random_state"):  # Bayesian: initial points and the GP's restarts
        oracle._random_state = np.random.RandomState(seed)
        oracle.gpr = oracle._make_gpr()
