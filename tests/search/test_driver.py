"""search.driver: the public `search.run`, the search's saved state, and its resume, time-budget
and registration-failure paths with a fake runner and tracker."""

from __future__ import annotations

import dataclasses
import io
import json
import logging

import numpy as np
import pytest
from rich.console import Console

import search
from search.errors import GruSearchError, TrackingError
from search.spec import parse_spec
from search.state import STATE_FILE, SearchState
from tests.fakes import FakeRunner, FakeTracker


def test_search_run_stays_callable_after_importing_from_the_driver_modules():
    from search.driver import Search, SearchResult  # noqa: F401
    from search.selection import rank_trials  # noqa: F401

    assert callable(search.run) and search.run.__module__ == "search.driver"
    assert search.SearchResult is SearchResult


def test_the_state_round_trips_atomically_and_an_unreadable_one_is_none(tmp_path):
    assert SearchState.load(tmp_path) is None
    state = SearchState("run-1", "7", "abc123", trial_seconds=61.23)
    state.save(tmp_path)
    assert SearchState.load(tmp_path) == SearchState("run-1", "7", "abc123", 61.2)
    assert not list(tmp_path.glob("*.partial"))
    # A newer search.json with keys this version does not know still loads.
    (tmp_path / STATE_FILE).write_text(json.dumps({"parent_run_id": "run-2", "future_key": 1}))
    assert SearchState.load(tmp_path) == SearchState(parent_run_id="run-2")
    (tmp_path / STATE_FILE).write_text("{not json")
    assert SearchState.load(tmp_path) is None


def test_a_resume_on_changed_data_is_refused_before_anything_is_tracked(tmp_path):
    from search.driver import Search

    spec = parse_spec(
        {
            "name": "changed",
            "data": {"source": "aeon:UnitTest"},
            "results_dir": str(tmp_path / "r"),
            "tracking": {"uri": f"sqlite:///{tmp_path}/mlflow.db"},
        },
        tmp_path,
    )
    (tmp_path / "r").mkdir()
    SearchState("run-1", "1", "0123456789abcdef-other").save(tmp_path / "r")
    with pytest.raises(
        GruSearchError,
        match=r"The data of search 'changed' changed since it started \(fingerprint 0123456789ab, now ",
    ):
        Search(spec, quiet=True).run(resume=True)
    assert not (tmp_path / "mlflow.db").exists()


def test_more_rolling_origins_than_the_series_holds_are_refused_before_anything_is_tracked(
    tmp_path,
):
    from search.driver import Search
    from search.errors import DataError

    spec = parse_spec(
        {
            "name": "origins",
            "data": {"source": "airline"},  # 86 training + validation windows, 12 ahead
            "search": {"folds": 20},
            "results_dir": str(tmp_path / "r"),
            "tracking": {"uri": f"sqlite:///{tmp_path}/mlflow.db"},
        },
        tmp_path,
    )
    with pytest.raises(DataError, match="too few for 20 rolling origins .*lower search.folds"):
        Search(spec, quiet=True).run()
    assert not (tmp_path / "mlflow.db").exists()


# -- the driver's paths, with a fake runner and tracker (no Ray, no MLflow, no training) ------


class FakeFinish:
    """Stands in for search.summary.finish (the test set, packaging, registration): it records
    the members it was given and ends the parent run as the real one does, or raises `refusal`."""

    def __init__(self):
        self.members: list[list[str]] = []
        self.weights: list = []
        self.refusal: Exception | None = None

    def __call__(self, spec, task, tracker, result, members, started, refits=(), weights=None):
        if self.refusal is not None:
            raise self.refusal
        self.members.append([m.number for m in members])
        self.weights.append(weights)
        tracker.end_run(result.parent_run_id, "FINISHED")
        best = members[0]
        return dataclasses.replace(
            result, best=best, ensemble_of=(best.number,), model_uri="models:/m/1"
        )


@pytest.fixture
def finish(monkeypatch) -> FakeFinish:
    from search import summary

    fake = FakeFinish()
    monkeypatch.setattr(summary, "finish", fake)
    return fake


@pytest.fixture(autouse=True)
def _search_log_restored():
    """A search sends the gru_search and ray loggers to its results folder: undone after each."""
    loggers = [logging.getLogger(name) for name in ("gru_search", "ray")]
    saved = [(logger.handlers[:], logger.propagate, logger.level) for logger in loggers]
    yield
    for logger, (handlers, propagate, level) in zip(loggers, saved, strict=True):
        for handler in set(logger.handlers) - set(handlers):
            handler.close()
        logger.handlers, logger.propagate = handlers, propagate
        logger.setLevel(level)


def _spec(tmp_path, **search):
    return parse_spec(
        {
            "name": "paths",
            "data": {"source": "aeon:UnitTest"},
            "results_dir": str(tmp_path / "results"),
            # Never opened: each test passes its FakeTracker.
            "tracking": {"uri": f"sqlite:///{tmp_path}/mlflow.db"},
            "search": {"max_trials": 3, "ensemble": 1, "refit": False, "folds": 1, **search},
        },
        tmp_path,
    )


def _search(spec, tracker, runner, console=None):
    from search.driver import Search

    console = console or Console(file=io.StringIO())
    return Search(spec, quiet=True, console=console, tracker=tracker, runner=runner)


def _parent_runs(tracker: FakeTracker) -> list[str]:
    return [run_id for run_id, run in tracker.runs.items() if run.parent is None]


def _killed_after(spec, tracker, trials: int) -> FakeRunner:
    """A first session whose driver is killed after `trials` trials ended."""
    killed = FakeRunner(stop_after=trials)
    with pytest.raises(KeyboardInterrupt):
        _search(spec, tracker, killed).run()
    assert tracker.runs[_parent_runs(tracker)[0]].status == "KILLED"
    return killed


def test_a_resumed_search_reopens_its_parent_run_and_runs_only_the_unfinished_trials(
    tmp_path, fake_tracker, finish
):
    spec = _spec(tmp_path)
    killed = _killed_after(spec, fake_tracker, trials=2)
    (parent,) = _parent_runs(fake_tracker)

    resumed = FakeRunner()
    result = _search(spec, fake_tracker, resumed).run(resume=True)
    assert _parent_runs(fake_tracker) == [parent] and result.parent_run_id == parent
    # A fresh Tune experiment for the one trial left, under the next number.
    assert [(s.name, s.max_trials) for s in resumed.sessions] == [("ray-1", 1)]
    assert len(killed.ran) == 2 and len(resumed.ran) == 1 and resumed.ran[0] not in killed.ran
    assert [o.number for o in result.trials] == [*killed.ran, *resumed.ran]
    assert all(o.status == "COMPLETED" and o.checkpoint for o in result.trials)
    assert fake_tracker.runs[parent].status == "FINISHED"


def test_an_exhausted_time_budget_runs_no_trial_and_says_why(tmp_path, fake_tracker, finish):
    spec = _spec(tmp_path, time_budget_minutes=1)
    killed = _killed_after(spec, fake_tracker, trials=1)
    results = tmp_path / "results"
    # The first session used the whole minute before its driver was killed.
    dataclasses.replace(SearchState.load(results), trial_seconds=60.0).save(results)

    runner, console = FakeRunner(), Console(file=io.StringIO(), width=200)
    result = _search(spec, fake_tracker, runner, console).run(resume=True)
    assert runner.starts == 0 and runner.sessions == []  # not even Ray was started
    assert result.stopped_reason == "its time budget of 1 minutes was reached"
    assert (
        "search stopped early: its time budget of 1 minutes was reached" in console.file.getvalue()
    )
    # What finished before the budget ran out is what the model is chosen from.
    assert finish.members == [killed.ran]


def test_a_failed_registration_fails_the_parent_run_with_why_and_a_resume_goes_straight_to_it(
    tmp_path, fake_tracker, finish
):
    spec = _spec(tmp_path)
    runner = FakeRunner()
    finish.refusal = TrackingError("The registry refused model 'paths' (HTTP 503).")
    with pytest.raises(TrackingError, match=r"The registry refused model 'paths' \(HTTP 503\)\."):
        _search(spec, fake_tracker, runner).run()
    (parent,) = _parent_runs(fake_tracker)
    assert fake_tracker.runs[parent].status == "FAILED"
    assert fake_tracker.runs[parent].reason == (
        "choosing and registering the model failed: "
        "TrackingError: The registry refused model 'paths' (HTTP 503)."
    )
    assert SearchState.load(tmp_path / "results").parent_run_id == parent

    # The trials are kept: --resume trains nothing and registers the same search's model.
    finish.refusal, again = None, FakeRunner()
    result = _search(spec, fake_tracker, again).run(resume=True)
    assert again.starts == 0 and again.sessions == []
    assert result.parent_run_id == parent and fake_tracker.runs[parent].status == "FINISHED"
    assert [o.number for o in result.trials] == runner.ran


def test_the_refit_is_handed_the_search_s_settings_and_its_chosen_trials(
    tmp_path, fake_tracker, finish, monkeypatch
):
    from search import refit

    handed = []

    def refit_within_budget(search, members, budget):
        handed.append((search, [m.number for m in members], budget))
        return ()

    monkeypatch.setattr(refit, "refit_within_budget", refit_within_budget)
    runner = FakeRunner()
    _search(_spec(tmp_path, refit=True), fake_tracker, runner).run()
    ((search, members, budget),) = handed
    assert search.tune_settings == runner.sessions[0] and search.quiet
    assert search.results_dir == str((tmp_path / "results").resolve())
    assert members == finish.members[0]
    assert budget.minutes == _spec(tmp_path).search.time_budget_minutes


def test_the_registered_trials_are_those_whose_saved_predictions_average_best(
    tmp_path, fake_tracker, finish
):
    def held_out(number, task):
        """Trials 0 and 1 are each right on one half of the validation cases (60 % sure where
        wrong, 90 % where right), so only their average is right on all; 2 is wrong on all."""
        truth = np.eye(2)[task.y_val]
        first = np.arange(len(task.y_val)) < len(task.y_val) // 2
        right, wrong = 0.9 * truth + 0.1 * (1 - truth), 0.4 * truth + 0.6 * (1 - truth)
        halves = {"0": first, "1": ~first, "2": np.zeros_like(first)}
        return np.where(halves[number][:, None], right, wrong)

    spec = _spec(tmp_path, ensemble=3, ensemble_selection="greedy")
    # Every trial ties on the objective: the ranking alone would take trials 0, 1 and 2.
    runner = FakeRunner(objective=0.5, held_out=held_out)
    result = _search(spec, fake_tracker, runner).run()
    assert result.trials and finish.members == [["0", "1"]] and finish.weights == [[1, 1]]
    # `top` takes the best three by objective, with equal weights, and reads no predictions.
    spec = _spec(tmp_path / "top", ensemble=3, ensemble_selection="top")
    _search(spec, fake_tracker, FakeRunner(objective=0.5)).run()
    assert finish.members[-1] == ["0", "1", "2"] and finish.weights[-1] == [1, 1, 1]


def test_auto_ensemble_selection_is_greedy_for_regression_and_top_otherwise(tmp_path):
    def selection(task, **search):
        data = {"source": "aeon:Covid3Month" if task == "regression" else "aeon:UnitTest"}
        mapping = {"name": "s", "data": {**data, "task": task}, "search": search}
        return parse_spec(mapping, tmp_path).search.ensemble_selection

    assert selection("regression") == selection("regression", ensemble_selection="auto") == "greedy"
    assert selection("classification") == "top"
    assert selection("classification", ensemble_selection="greedy") == "greedy"
    assert selection("regression", ensemble_selection="top") == "top"
