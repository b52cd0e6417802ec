"""`search.first_trials`: the defaults resolved against the space, a user's own checked in it."""

from __future__ import annotations

import pytest

from search.errors import SpecError
from search.spec import load_spec, parse_spec
from search.spec.space_section import FIRST_TRIALS, FORECASTING_FIRST_TRIALS
from search.spec.summary import summary

GUNPOINT = {"source": "aeon:GunPoint"}
AIRLINE = {"source": "airline", "task": "forecasting", "window": 12}


def _spec(data=GUNPOINT, **sections):
    return parse_spec({"name": "first", "data": data, **sections}, "/tmp")


def test_the_default_spec_starts_from_the_task_s_first_trials_and_each_is_in_the_space():
    for data, expected in ((GUNPOINT, FIRST_TRIALS), (AIRLINE, FORECASTING_FIRST_TRIALS)):
        spec = _spec(data)
        assert spec.search.first_trials == expected
        for values in spec.search.first_trials:
            assert spec.space.problems(values) == []  # complete configurations of the default space
    assert _spec(search={"first_trials": "auto"}).search.first_trials == FIRST_TRIALS
    text = summary(_spec())
    assert "first:    2 trials before the algorithm proposes" in text
    assert "  01: cell=gru, depth=1, units=64" in text and "revin=True" in text


def test_in_a_narrower_space_the_defaults_keep_what_it_holds():
    spec = _spec(space={"cell": ["gru", "mgu"], "units": [8, 16], "revin": [False, True]})
    assert spec.search.first_trials == (
        {"cell": "gru", "revin": False},
        {"cell": "gru", "revin": True},
    )
    # Nothing of theirs in the space: no first trials.
    assert _spec(space={"cell": ["mgu"], "units": [8]}).search.first_trials == ()


def test_none_or_the_grid_means_the_algorithm_proposes_every_trial():
    assert _spec(search={"first_trials": []}).search.first_trials == ()
    assert _spec(search={"algorithm": "grid"}).search.first_trials == ()


def test_a_user_s_first_trials_are_read_with_the_parameters_types(tmp_path):
    path = tmp_path / "spec.yaml"
    # 3e-3 and 1e-4 without a dot: strings to YAML 1.1 (PyYAML), numbers to a user.
    path.write_text(
        "name: first\ndata: {source: 'aeon:GunPoint'}\n"
        "space: {cell: [gru, mgu], units: [32, 64], learning_rate: {min: 1e-4, max: 1e-2, log: true}}\n"
        "search: {first_trials: [{cell: mgu, learning_rate: 3e-3}, {units: 32}]}\n"
    )
    spec = load_spec(path)
    assert spec.search.first_trials == ({"cell": "mgu", "learning_rate": 3e-3}, {"units": 32})
    values = spec.space.sample(0, given=spec.search.first_trials[0])
    assert (
        values["cell"] == "mgu"
        and values["learning_rate"] == 3e-3
        and spec.space.problems(values) == []
    )


def test_bad_first_trials_name_what_to_fix():
    with pytest.raises(SpecError) as error:
        _spec(search={"first_trials": [{"cel": "gru"}, {"units": 7}, {}]})
    assert error.value.problems == (
        "search.first_trials[0].cel: is not a parameter of the space (did you mean `cell`?); it has: "
        "cell, depth, units, bidirectional, attention, fcn, fcn_filters, revin, minirocket, dropout, "
        "learning_rate, batch_size, lr_schedule",
        "search.first_trials[1].units: expected a value the space holds (32 | 64), got 7",
        "search.first_trials[2]: names no parameter; give at least one, or drop the entry",
    )
    for value, problem in (
        (
            "best",
            'search.first_trials: expected auto, or a list of mappings from parameters to values, got "best"',
        ),
        ([{"cell": "gru"}], "search.first_trials: applies to the random and bayesian algorithms"),
    ):
        search = {
            "first_trials": value,
            **({"algorithm": "grid"} if problem.endswith("algorithms") else {}),
        }
        with pytest.raises(SpecError) as error:
            _spec(search=search)
        assert error.value.problems[0].startswith(problem)


def test_first_trials_are_checked_in_the_same_pass_as_the_rest_of_search():
    with pytest.raises(SpecError) as error:
        _spec(search={"first_trials": [{"cel": "gru"}], "max_trials": 0})
    assert [p.split(":")[0] for p in error.value.problems] == [
        "search.max_trials",
        "search.first_trials[0].cel",
    ]
