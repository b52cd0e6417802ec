"""search.spec.schema / `gru-search schema`: a JSON Schema the examples pass and broken specs fail,
built from the parser's own keys, domains and defaults."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest
import yaml

from search import cli
from search.spec import DEFAULT_SPACE, parse_spec
from search.spec.data_section import DATA_KEYS
from search.spec.loading import TOP_KEYS, _SpecLoader
from search.spec.schema import spec_schema
from search.spec.settings_section import RAY_KEYS, SEARCH_KEYS, TRACKING_KEYS
from search.spec.space_section import FIRST_TRIALS, FORECASTING_FIRST_TRIALS, FORECASTING_SPACE

ROOT = Path(__file__).resolve().parents[3]
EXAMPLES = sorted((ROOT / "examples").glob("*.yaml"))
VALIDATOR = jsonschema.Draft202012Validator(spec_schema())
MINIMAL = {"name": "x", "data": {"source": "aeon:GunPoint"}}


def errors(spec) -> list[str]:
    return [
        f"{'.'.join(map(str, e.absolute_path))}: {e.message}" for e in VALIDATOR.iter_errors(spec)
    ]


def test_the_schema_is_a_valid_draft_2020_12_schema():
    jsonschema.Draft202012Validator.check_schema(spec_schema())
    assert spec_schema()["$schema"] == "https://json-schema.org/draft/2020-12/schema"


@pytest.mark.parametrize("example", EXAMPLES, ids=lambda p: p.name)
def test_every_example_passes_the_schema(example):
    # Read as the parser reads it (1e-4 is a number).
    assert errors(yaml.load(example.read_text(), Loader=_SpecLoader)) == []


def test_the_default_spaces_and_first_trials_pass_the_schema():
    for space in (DEFAULT_SPACE, FORECASTING_SPACE):
        assert errors({**MINIMAL, "space": space}) == []
    trials = [dict(t) for t in (*FIRST_TRIALS, *FORECASTING_FIRST_TRIALS)]
    assert errors({**MINIMAL, "search": {"first_trials": trials}}) == []


def test_sections_have_exactly_the_keys_the_parser_reads():
    schema = spec_schema()
    properties = schema["properties"]
    assert list(properties) == list(TOP_KEYS)
    assert list(properties["data"]["properties"]) == list(DATA_KEYS)
    for key, keys in (("search", SEARCH_KEYS), ("tracking", TRACKING_KEYS), ("ray", RAY_KEYS)):
        assert list(properties[key]["properties"]) == list(keys)


def test_defaults_come_from_the_settings():
    search = spec_schema()["properties"]["search"]["properties"]
    assert search["max_trials"]["default"] == 100
    assert search["ensemble"]["default"] == 5
    assert search["time_budget_minutes"]["default"] == 10.0


@pytest.mark.parametrize(
    ("spec", "where"),
    [
        ({**MINIMAL, "serach": {}}, ""),
        ({**MINIMAL, "search": {"max_trails": 3}}, "search"),
        ({**MINIMAL, "data": {"source": "aeon:GunPoint", "tsk": "classification"}}, "data"),
        ({**MINIMAL, "space": {"unit": [32]}}, "space"),
        ({**MINIMAL, "space": {"units": {"values": [32], "step": 2, "zz": 1}}}, "space.units"),
    ],
)
def test_an_unknown_key_fails_the_schema(spec, where):
    found = errors(spec)
    assert found and all(line.startswith(where) for line in found), found


@pytest.mark.parametrize(
    "spec",
    [
        {"name": "x"},
        {**MINIMAL, "name": "has space"},
        {**MINIMAL, "search": {"max_trials": "ten"}},
        {**MINIMAL, "search": {"max_trials": 0}},
        {**MINIMAL, "search": {"algorithm": "bayes"}},
        {**MINIMAL, "search": {"objective": {"metric": "val_acc"}}},
        {**MINIMAL, "search": {"resources_per_trial": {"gpu": -1}}},
        {**MINIMAL, "data": {"source": "aeon:GunPoint", "validation": 1.5}},
        {**MINIMAL, "space": {"cell": ["gru", "lstm"]}},
        {**MINIMAL, "space": {"units": [32, "big"]}},
        {**MINIMAL, "space": {"downsample": [3]}},
        {**MINIMAL, "space": {"dropout": {"min": 0.0, "max": 1.0}}},
        {**MINIMAL, "space": {"units": {"min": 8, "max": 32, "log": True}}},
        {**MINIMAL, "space": {"cell": {"min": 1, "max": 2}}},
        {**MINIMAL, "ray": {"address": "not an address"}},
    ],
)
def test_a_wrong_value_fails_the_schema_as_it_fails_the_parser(spec, tmp_path):
    assert errors(spec)
    with pytest.raises(ValueError):
        parse_spec(spec, tmp_path)


def test_null_is_a_field_left_out_for_both():
    spec = {
        **MINIMAL,
        "space": None,
        "search": {"max_trials": None, "patience": None, "folds": None, "objective": None},
        "tracking": None,
        "ray": {"num_cpus": None},
    }
    assert errors(spec) == []
    assert parse_spec(spec, "/tmp").search.max_trials == 100


def test_gru_search_schema_prints_it(capsys):
    assert cli.main(["schema"]) == 0
    assert json.loads(capsys.readouterr().out) == spec_schema()
