"""Space: structure checks, reproducible sampling, counting, the summary and JSON."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

import space
from space import Boolean, Choice, Fixed, FloatRange, IntRange, Space

from .helpers import all_configurations, distinct


def conditional_space() -> Space:
    return Space(
        (
            Choice("cell", ("gru", "minimal", "convgru")),
            IntRange("depth", 1, 3),
            Choice("conv_kernel", (3, 5), when={"cell": ["convgru"]}),
            # A chain: active only when conv_kernel is, which needs cell = convgru.
            Fixed("frontend_kernel", 3, when={"conv_kernel": [5]}),
            Boolean("residual", when={"depth": [2, 3]}),
            # Conditions meeting from two branches.
            Choice("attention_units", (16, 32), when={"conv_kernel": [3], "residual": [True]}),
            FloatRange("learning_rate", 1e-4, 1e-2, log=True),
        )
    )


def test_public_names_are_pinned():
    assert space.__all__ == [
        "TRAINING_PARAMETERS",
        "Boolean",
        "Choice",
        "Condition",
        "Fixed",
        "FloatRange",
        "IntRange",
        "Parameter",
        "Space",
    ]


def test_importing_space_imports_no_framework():
    code = (
        "import sys, space, space.keras_tuner, space.describe\n"
        "heavy = [m for m in ('keras', 'keras_tuner', 'tensorflow', 'ray', 'mlflow', 'jax')"
        " if m in sys.modules]\n"
        "print(heavy)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_same_seed_same_configuration_and_seed_zero_is_a_seed():
    s = conditional_space()
    assert s.sample(0) == s.sample(0)
    assert s.sample(12345) == s.sample(12345)
    draws = {json.dumps(s.sample(seed), sort_keys=True) for seed in range(30)}
    assert len(draws) > 10
    # Seed 0 is not "no seed": a fresh process draws the same configuration.
    code = "import json; from tests.space.test_space import conditional_space as c; print(json.dumps(c().sample(0), sort_keys=True))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert json.loads(out.stdout) == s.sample(0)


def test_given_values_are_kept_where_active_and_the_rest_drawn_as_without_them():
    s = conditional_space()
    draws = set()
    for seed in range(20):
        fixed = s.sample(seed, given={"cell": "convgru", "conv_kernel": 5})
        assert fixed["cell"] == "convgru" and fixed["conv_kernel"] == 5
        assert fixed["frontend_kernel"] == 3 and s.problems(fixed) == []  # its child switched on
        assert fixed == s.sample(seed, given={"cell": "convgru", "conv_kernel": 5})
        draws.add(json.dumps(fixed, sort_keys=True))
    assert len(draws) > 5  # the rest is drawn
    # A given value whose condition does not hold is left out, not forced in.
    plain = s.sample(0, given={"cell": "gru", "conv_kernel": 5})
    assert "conv_kernel" not in plain and s.problems(plain) == []
    with pytest.raises(ValueError, match=r"given values outside the space: cell='lstm', units=8\."):
        s.sample(0, given={"cell": "lstm", "units": 8})


def test_samples_satisfy_their_conditions_and_leave_inactive_parameters_out():
    s = conditional_space()
    for seed in range(300):
        values = s.sample(seed)
        assert s.problems(values) == []
        assert ("conv_kernel" in values) == (values["cell"] == "convgru")
        assert ("frontend_kernel" in values) == (values.get("conv_kernel") == 5)
        assert ("residual" in values) == (values["depth"] >= 2)
        assert ("attention_units" in values) == (
            values.get("conv_kernel") == 3 and values.get("residual") is True
        )


def test_problems_explains_a_configuration_that_does_not_fit():
    s = conditional_space()
    assert s.problems({"cell": "gru", "depth": 1, "learning_rate": 1e-3}) == []
    found = s.problems({"cell": "gru", "depth": 4, "conv_kernel": 3, "width": 1})
    assert "'width' is not a parameter of this space." in found
    assert "'depth'=4 is outside 1 to 3." in found
    assert "'conv_kernel' is inactive but has the value 3." in found
    assert "'learning_rate' is active but has no value." in found


def test_active_drops_values_that_conditions_switch_off():
    s = conditional_space()
    values = {
        "cell": "gru",
        "depth": 1,
        "conv_kernel": 5,
        "frontend_kernel": 3,
        "residual": True,
        "learning_rate": 0.001,
        "unknown": 1,
    }
    assert s.active(values) == {"cell": "gru", "depth": 1, "learning_rate": 0.001}


def test_parents_are_ordered_before_their_dependants():
    s = Space(
        (
            Boolean("b", when={"a": ["x"]}),
            Choice("c", (1, 2), when={"b": [True]}),
            Choice("a", ("x", "y")),
        )
    )
    assert s.names == ("a", "b", "c")


@pytest.mark.parametrize(
    ("parameters", "match"),
    [
        ((Choice("a", (1, 2)), Choice("a", (3,))), "a: is declared twice"),
        ((Boolean("b", when={"zzz": [1]}),), "b.when.zzz: condition on unknown parameter 'zzz'"),
        (
            (Choice("a", ("x", "y")), Boolean("b", when={"a": ["z"]})),
            r"'a' can never take \[\"z\"\]",
        ),
        ((FloatRange("a", 0.0, 1.0), Boolean("b", when={"a": [0.5]})), "continuous parameter 'a'"),
        (
            (Boolean("a", when={"b": [True]}), Boolean("b", when={"a": [True]})),
            "cycle: a -> b -> a",
        ),
    ],
)
def test_structure_problems_are_value_errors(parameters, match):
    with pytest.raises(ValueError, match=match):
        Space(parameters)


FINITE_SPACES = [
    Space((Choice("a", (1, 2, 3)), Boolean("b"))),
    Space((Choice("cell", ("gru", "convgru")), Choice("k", (3, 5, 7), when={"cell": ["convgru"]}))),
    Space(
        (
            IntRange("depth", 1, 3),
            Boolean("residual", when={"depth": [2, 3]}),
            Choice("x", (1, 2), when={"residual": [True]}),
            Fixed("batch_size", 8),
        )
    ),
    Space(
        (
            Choice("a", ("p", "q")),
            Boolean("b", when={"a": ["p"]}),
            Choice("c", (1, 2), when={"a": ["q"]}),
            Fixed("d", 1, when={"b": [True], "a": ["p"]}),
            FloatRange("learning_rate", 0.0, 0.2, step=0.1),
            Choice("batch_size", (8, 16), when={"a": ["q"]}),
        )
    ),
]


@pytest.mark.parametrize("s", FINITE_SPACES, ids=lambda s: ",".join(s.names))
def test_counts_match_brute_force_enumeration(s):
    configurations = all_configurations(s)
    assert s.num_configurations() == distinct(configurations) == len(configurations)
    training = ("learning_rate", "batch_size")
    assert s.num_configurations(exclude=training) == distinct(configurations, exclude=training)


def test_continuous_space_counts_as_continuous_and_says_around_what():
    s = conditional_space()
    assert s.num_configurations() is None
    # gru/minimal: depth 1 (1) + depth 2-3 x residual (4) = 5 each; convgru: kernel 5 -> 5,
    # kernel 3 -> depth 1 (1) + depth 2-3 x (residual false 1 + residual true x 2 units) = 7.
    assert s.num_configurations(exclude=("learning_rate",)) == 5 + 5 + 5 + 7
    text = s.describe()
    assert text.splitlines()[0] == (
        "7 parameters; distinct architectures: 22; distinct configurations: continuous "
        "(22 discrete combinations x learning_rate)"
    )
    assert "conv_kernel" in text and "(when cell in [convgru])" in text
    assert "(when conv_kernel in [3] and residual in [true])" in text
    assert "0.0001 to 0.01 (log)" in text


def test_json_round_trip_gives_an_equal_space():
    s = conditional_space()
    again = Space.from_json(s.to_json())
    assert again == s
    assert again.sample(3) == s.sample(3)


def test_from_dict_rejects_anything_else():
    with pytest.raises(ValueError, match="A space is"):
        Space.from_dict({"params": []})
    with pytest.raises(TypeError, match="seed must be an integer"):
        conditional_space().sample(1.5)
