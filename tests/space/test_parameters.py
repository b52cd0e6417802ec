"""Each parameter kind validates itself, samples inside its domain and round-trips through JSON."""

from __future__ import annotations

import json
import random

import pytest

from space import Boolean, Choice, Condition, Fixed, FloatRange, IntRange
from space.parameters import parameter_from_dict

EXAMPLES = [
    Choice("cell", ("gru", "mgu")),
    Choice("units", (16, 32, 64), when={"cell": ["gru"]}),
    Choice("dropout", (0.0, 0.25)),
    IntRange("depth", 1, 3),
    IntRange("units", 16, 128, 16),
    FloatRange("dropout", 0.0, 0.5),
    FloatRange("learning_rate", 1e-4, 1e-2, log=True),
    FloatRange("dropout", 0.0, 0.5, step=0.1),
    Boolean("bidirectional", when={"depth": [2, 3]}),
    Fixed("batch_size", 32),
    Fixed("cell", "gru"),
]


@pytest.mark.parametrize("parameter", EXAMPLES, ids=repr)
def test_json_round_trip_gives_an_equal_parameter(parameter):
    text = json.dumps(parameter.to_dict())
    assert parameter_from_dict(json.loads(text)) == parameter


@pytest.mark.parametrize("parameter", EXAMPLES, ids=repr)
def test_samples_stay_in_the_domain_and_cover_it(parameter):
    rng = random.Random(0)
    samples = [parameter.sample(rng) for _ in range(400)]
    assert all(parameter.contains(s) for s in samples)
    size = parameter.cardinality()
    if size is not None:
        assert set(samples) == set(parameter.domain())
        assert len(parameter.domain()) == size


def test_log_range_samples_are_uniform_in_log_space():
    parameter = FloatRange("learning_rate", 1e-4, 1e-2, log=True)
    rng = random.Random(1)
    samples = [parameter.sample(rng) for _ in range(4000)]
    below_geometric_mean = sum(s < 1e-3 for s in samples) / len(samples)
    # Linear sampling would put ~9 % below 1e-3; log sampling half.
    assert 0.45 < below_geometric_mean < 0.55


def test_float_grid_contains_its_own_values_after_a_json_round_trip():
    parameter = FloatRange("dropout", 0.0, 0.3, step=0.1)
    assert parameter.domain() == pytest.approx((0.0, 0.1, 0.2, 0.3))
    for value in parameter.domain():
        assert parameter.contains(json.loads(json.dumps(value)))
    assert not parameter.contains(0.15)


@pytest.mark.parametrize(
    ("make", "match"),
    [
        (lambda: Choice("cell", ()), "at least one value"),
        (lambda: Choice("cell", "gru"), "needs a list"),
        (lambda: Choice("units", (1, 1)), "lists a value twice"),
        (lambda: Choice("units", (1, "a")), r"mixes value types \['int', 'str'\]"),
        (lambda: Choice("flag", (True, 1)), "mixes value types"),
        (lambda: Choice("units", (None,)), "strings, numbers or booleans"),
        (lambda: IntRange("depth", 3, 1), r"`low <= high` must hold, but got low=3, high=1"),
        (lambda: IntRange("depth", 1, 4, 2), "not reached from low=1 in steps of 2"),
        (lambda: IntRange("depth", 1, 3, 0), "step must be at least 1"),
        (lambda: IntRange("depth", 1.0, 3), "low must be an integer"),
        (lambda: FloatRange("lr", 0.0, 0.1, log=True), "log range must have low > 0"),
        (lambda: FloatRange("lr", 0.2, 0.1), "`low <= high` must hold"),
        (lambda: FloatRange("lr", 0.0, float("inf")), "finite number"),
        (lambda: FloatRange("lr", 1e-3, 1e-1, log=True, step=0.01), "cannot be used together"),
        (lambda: FloatRange("lr", 0.0, 0.1, step=-1), "step must be a positive number"),
        (lambda: Fixed("x", [1]), "string, number or boolean"),
        (lambda: Boolean("1abc"), "must be an identifier"),
        (lambda: Boolean("x", when={"x": [True]}), "condition on itself"),
        (lambda: Boolean("x", when={"y": []}), "at least one value"),
    ],
)
def test_invalid_parameters_raise_value_error_naming_the_fix(make, match):
    with pytest.raises(ValueError, match=match):
        make()


def test_conditions_do_not_confuse_true_with_one():
    condition = Condition("depth", (1,))
    assert condition.holds({"depth": 1})
    assert condition.holds({"depth": 1.0})
    assert not condition.holds({"depth": True})
    assert not condition.holds({})


def test_parameters_are_frozen_and_normalise_lists_to_tuples():
    parameter = Choice("units", [16, 32], when={"cell": ["gru"]})
    assert parameter.values == (16, 32)
    assert parameter.when == (Condition("cell", ("gru",)),)
    with pytest.raises(AttributeError):
        parameter.values = (1,)
    assert hash(parameter) == hash(Choice("units", (16, 32), when={"cell": ("gru",)}))


def test_parameter_from_dict_rejects_what_it_did_not_write():
    with pytest.raises(ValueError, match="needs a 'kind'"):
        parameter_from_dict({"kind": "lognormal", "name": "x"})
    with pytest.raises(ValueError, match="Cannot read parameter"):
        parameter_from_dict({"kind": "int", "name": "x", "lo": 1})
