"""A keras-tuner Oracle with the methods of a Ray Tune `Searcher`.

keras-tuner brings the search algorithms (random, grid, Bayesian optimisation over conditional
spaces); Ray Tune brings placement, parallelism and early-stopping schedulers. This adapter asks
the oracle for one trial per Ray trial (each Ray trial id is its own keras-tuner `tuner_id`, so
concurrent trials never share a proposal) and hands results back when Tune finishes a trial.
Tune delivers the last result only to `on_trial_complete`, so the score is recorded there.

Ray is not imported here: search.tune hands an `OracleSearcher` to Tune inside its `Searcher`
subclass, which forwards these methods and checkpoints `get_state()`.
"""

from __future__ import annotations

import contextlib
import io
import warnings
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from search.trial_result import (
    BEST_EPOCH,
    BEST_OBJECTIVE,
    BEST_TIEBREAK,
    FAILED_KEY,
    TRIAL_NUMBER_KEY,
)

# What `suggest` returns when no trial will follow: Ray Tune's `Searcher.FINISHED`.
FINISHED = "FINISHED"

# Statuses keras-tuner uses, as strings, so this module does not need keras_tuner imported.
_RUNNING, _STOPPED, _COMPLETED, _FAILED = "RUNNING", "STOPPED", "COMPLETED", "FAILED"


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


class OracleSearcher:
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
        self.metric, self.mode = metric, mode
        self._oracle = oracle
        self._objective_of = objective_of
        self._max_consecutive_failures = max_consecutive_failures
        self._proposals: dict[str, TrialProposal] = {}
        self._epochs: dict[str, dict[int, dict]] = {}
        self._kt_trials: dict[str, object] = {}
        # A reloaded oracle (a resumed search) already holds finished trials: count its tail of
        # failures, and whether any trial ever completed.
        self._consecutive_failures = _trailing_failures(oracle)
        self._any_completed = _any_completed(oracle)
        self.stopped_reason: str | None = None

    # -- Tune's side -------------------------------------------------------------------------

    def suggest(self, trial_id: str) -> dict | None:
        if self.stopped_reason is not None:
            return FINISHED
        with _silenced():
            kt_trial = self._oracle.create_trial(trial_id)
        status = str(getattr(kt_trial.status, "value", kt_trial.status))
        if status == _STOPPED:
            self.stopped_reason = "the search algorithm has explored its whole space"
            return FINISHED
        if status != _RUNNING:
            return None  # IDLE: the oracle waits for running trials; Tune asks again later.
        values = {name: plain(v) for name, v in kt_trial.hyperparameters.values.items()}
        self._proposals[trial_id] = TrialProposal(number=kt_trial.trial_id, values=values)
        self._kt_trials[trial_id] = kt_trial
        return {**values, TRIAL_NUMBER_KEY: kt_trial.trial_id}

    def on_trial_result(self, trial_id: str, result: dict) -> None:
        if trial_id in self._kt_trials and _finite(result.get("epoch")):
            row = {
                k: float(v) for k, v in result.items() if _curve_key(k, self.metric) and _finite(v)
            }
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
                    self._oracle.update_trial(
                        kt_trial.trial_id, {name: float(score), **row}, step=epoch
                    )
                summary = {k: float(result[k]) for k in SUMMARY_KEYS if _finite(result.get(k))}
                self._oracle.update_trial(
                    kt_trial.trial_id, {**summary, name: float(score)}, step=0
                )
            kt_trial.status = _COMPLETED if ok else _FAILED
            # Saved in the oracle's trial.json: a resumed search reads why it failed from there.
            kt_trial.message = (
                None if ok else str((result or {}).get(FAILED_KEY) or "the trial failed")
            )
            self._oracle.end_trial(kt_trial)
        self._consecutive_failures = 0 if ok else self._consecutive_failures + 1
        self._any_completed = self._any_completed or ok
        # Failures in a row stop a search only while no trial has completed: that is a broken
        # setup (data, resources, a bug). Once one has trained, a failure is one bad region of
        # the space; the oracle records it as FAILED and the search goes on within its budget.
        broken = (
            not self._any_completed and self._consecutive_failures >= self._max_consecutive_failures
        )
        if broken and self.stopped_reason is None:
            self.stopped_reason = (
                f"the first {self._consecutive_failures} trials all failed "
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
            "any_completed": self._any_completed,
            "stopped_reason": self.stopped_reason,
        }

    def set_state(self, state: dict) -> None:
        self._oracle = state["oracle"]
        self._proposals = state["proposals"]
        self._consecutive_failures = state["consecutive_failures"]
        self._any_completed = state.get("any_completed", False)
        self.stopped_reason = state["stopped_reason"]


# Result keys kept at step 0 of a finished trial's record: its best epoch and how long it ran.
SUMMARY_KEYS = (BEST_OBJECTIVE, BEST_TIEBREAK, BEST_EPOCH, "epoch", "time_total_s")


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
        points = sorted(
            (o.step, float(o.value[0])) for o in metrics.get_history(name) if o.step >= 1
        )
        if points:
            curves[name] = tuple(v for _, v in points)
    status = str(getattr(kt_trial.status, "value", kt_trial.status))
    return {
        "values": {k: plain(v) for k, v in kt_trial.hyperparameters.values.items()},
        "status": status,
        "message": kt_trial.message,
        "objective": kt_trial.score if status == _COMPLETED else None,
        "tiebreak": at(BEST_TIEBREAK, 0),
        "best_epoch": int(at(BEST_EPOCH, 0)) if _finite(at(BEST_EPOCH, 0)) else None,
        "epochs": int(at("epoch", 0) or 0),
        "seconds": at("time_total_s", 0),
        "curves": curves,
    }


def _any_completed(oracle) -> bool:
    return any(_status(oracle.trials[t]) == _COMPLETED for t in getattr(oracle, "end_order", []))


def _status(kt_trial) -> str:
    return str(getattr(kt_trial.status, "value", kt_trial.status))


def _trailing_failures(oracle) -> int:
    count = 0
    for trial_id in getattr(oracle, "end_order", []):
        status = str(
            getattr(oracle.trials[trial_id].status, "value", oracle.trials[trial_id].status)
        )
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
