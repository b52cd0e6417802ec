"""search.driver: the public `search.run`, the search's saved state, a resume on changed data."""

from __future__ import annotations

import json

import pytest

import search
from search.errors import GruSearchError
from search.spec import parse_spec
from search.state import STATE_FILE, SearchState


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
