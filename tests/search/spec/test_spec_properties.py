"""Property tests: generated spaces sample only valid architectures; broken specs raise SpecError."""

from __future__ import annotations

import copy
import math

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cells.architecture import Architecture
from search.errors import SpecError
from search.spec import parse_spec, trial_config
from search.spec.domains import DOMAINS
from search.spec.space_section import FORECASTING_ONLY, NOT_FORECASTING
from space import Space

FAST = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])

# Values each known parameter may take in a generated space.
POOLS = {
    "cell": ["gru", "minimal", "mgu", "layernorm", "convgru", "sepconvgru"],
    "depth": [1, 2, 3],
    "units": [4, 8, 16, 32],
    "bidirectional": [False, True],
    "residual": [False, True],
    "reset_after": [False, True],
    "conv_kernel": [1, 3, 5],
    "frontend_kernel": [0, 2, 3],
    "attention": ["none", "pooling", "bahdanau", "luong"],
    "attention_units": [8, 16],
    "fcn": ["none", "fcn", "se_fcn"],
    "fcn_filters": [8, 16],
    "downsample": [1, 2, 4],
    "ar_highway": [0, 2, 3],
    "revin": [False, True],
    "dimension_shuffle": [False, True],
    "minirocket": [False, True],
    "dropout": [0.0, 0.1, 0.5],
    "learning_rate": [1e-4, 1e-3, 1e-2],
    "batch_size": [8, 16, 32],
    "lr_schedule": ["constant", "cosine"],
}
assert set(POOLS) == set(DOMAINS)


@st.composite
def entries(draw, name: str, parents: dict[str, list]) -> tuple[object, list | None]:
    """One space entry for `name` in any YAML form, and the values it can take (None: continuous)."""
    pool = POOLS[name]
    kind = DOMAINS[name].kind
    ranged = kind in ("int", "float") and DOMAINS[name].ranges
    forms = ["list", "fixed"] + (["range"] if ranged else [])
    form = draw(st.sampled_from(forms))
    when = None
    if parents and draw(st.booleans()):
        chosen = draw(
            st.lists(st.sampled_from(sorted(parents)), min_size=1, max_size=2, unique=True)
        )
        when = {
            p: draw(st.lists(st.sampled_from(parents[p]), min_size=1, unique=True)) for p in chosen
        }
    if form == "list":
        values = draw(st.lists(st.sampled_from(pool), min_size=1, unique=True))
        entry: object = {"values": values} if when else values
        domain: list | None = values
    elif form == "fixed":
        value = draw(st.sampled_from(pool))
        entry, domain = ({"value": value} if when else value), [value]
    else:
        low, high = sorted(draw(st.lists(st.sampled_from(pool), min_size=2, max_size=2)))
        entry = {"min": low, "max": high}
        if kind == "float" and low > 0 and draw(st.booleans()):
            entry["log"] = True
        domain = list(range(low, high + 1)) if kind == "int" else None
    if when:
        entry = {**entry, "when": when}
    return entry, domain


@st.composite
def spaces(draw) -> dict:
    names = draw(st.lists(st.sampled_from(sorted(POOLS)), min_size=1, unique=True))
    if any(name in FORECASTING_ONLY for name in names):  # forecasting data: none of the others
        names = [name for name in names if name not in NOT_FORECASTING] or list(FORECASTING_ONLY)
    space: dict = {}
    discrete: dict[str, list] = {}
    for name in names:
        entry, domain = draw(entries(name, discrete))
        space[name] = entry
        if domain is not None:
            discrete[name] = domain
    return space


@FAST
@given(space=spaces(), seeds=st.lists(st.integers(0, 2**32), min_size=1, max_size=5))
def test_every_sample_of_a_valid_space_satisfies_its_conditions_and_builds(space, seeds):
    # Forecasting-only parameters need forecasting data; the others go with a classification set.
    forecasting = any(name in FORECASTING_ONLY for name in space)
    data = (
        {"source": "airline", "task": "forecasting", "window": 24}
        if forecasting
        else {"source": "aeon:GunPoint"}
    )
    spec = parse_spec({"name": "p", "data": data, "space": space}, "/tmp")
    assert Space.from_json(spec.space.to_json()) == spec.space
    for seed in seeds:
        values = spec.space.sample(seed)
        assert values == spec.space.sample(seed)
        assert spec.space.problems(values) == []
        for p in spec.space.parameters:
            assert (p.name in values) == all(c.holds(values) for c in p.when)
        config = trial_config(values)
        assert isinstance(config.architecture, Architecture)
        for name, value in values.items():
            got = config.to_dict()[name]
            assert got == value or (isinstance(value, float) and math.isclose(got, value))


VALID = {
    "name": "vowels",
    "data": {
        "source": "aeon:JapaneseVowels",
        "task": "classification",
        "validation": 0.2,
        "features": ["a", "b"],
    },
    "space": {
        "cell": ["gru", "minimal", "convgru"],
        "depth": {"min": 1, "max": 3},
        "units": [32, 64],
        "residual": {"values": [False, True], "when": {"depth": [2, 3]}},
        "conv_kernel": {"values": [3, 5], "when": {"cell": ["convgru"]}},
        "frontend_kernel": {"value": 3, "when": {"conv_kernel": [5]}},
        "dropout": {"min": 0.0, "max": 0.5},
        "learning_rate": {"min": 1.0e-4, "max": 1.0e-2, "log": True},
    },
    "search": {
        "algorithm": "bayesian",
        "scheduler": "asha",
        "max_trials": 10,
        "max_epochs": 5,
        "concurrency": 2,
        "resources_per_trial": {"cpu": 1, "gpu": 0},
        "objective": {"metric": "val_accuracy", "mode": "max"},
        "seed": 0,
    },
    "tracking": {"uri": "sqlite:///mlflow.db", "experiment": "e", "registered_model": "m"},
    "ray": {"address": "local", "num_cpus": 2},
}


def nodes(tree, path=()):
    """Every (path, value) below `tree`; a path mixes mapping keys and list indices."""
    yield path, tree
    if isinstance(tree, dict):
        for key, value in tree.items():
            yield from nodes(value, (*path, key))
    elif isinstance(tree, list):
        for index, value in enumerate(tree):
            yield from nodes(value, (*path, index))


def set_at(tree, path, value):
    for step in path[:-1]:
        tree = tree[step]
    tree[path[-1]] = value


def field_path(path) -> str:
    """The dotted field path a problem is reported at: mapping keys, list indices left out."""
    return ".".join(str(step) for step in path if not isinstance(step, int))


PATHS = [path for path, _ in nodes(VALID) if path]
MAPPINGS = [path for path, value in nodes(VALID) if isinstance(value, dict)]
# Invalid wherever it lands: every leaf is a scalar, every mapping has a closed set of keys.
GARBAGE = {"zz_garbage": [None]}


def test_the_base_spec_of_the_mutations_is_valid():
    parse_spec(copy.deepcopy(VALID), "/tmp")


@FAST
@given(path=st.sampled_from(PATHS))
def test_garbage_anywhere_raises_spec_error_at_that_field(path):
    spec = copy.deepcopy(VALID)
    set_at(spec, path, copy.deepcopy(GARBAGE))
    try:
        parse_spec(spec, "/tmp")
    except SpecError as error:
        assert any(line.startswith(field_path(path)) for line in error.problems), (
            path,
            error.problems,
        )
    else:
        raise AssertionError(f"no SpecError for garbage at {path}")


@FAST
@given(path=st.sampled_from(MAPPINGS), key=st.text(min_size=1, max_size=12))
def test_an_unknown_key_anywhere_raises_spec_error_naming_it(path, key):
    spec = copy.deepcopy(VALID)
    target = spec
    for step in path:
        target = target[step]
    name = f"zz{key}"
    target[name] = 1
    with_key = field_path((*path, name))
    try:
        parse_spec(spec, "/tmp")
    except SpecError as error:
        # A `when` mapping names parameters, so an unknown one is reported at its condition.
        assert any(line.startswith(with_key) for line in error.problems), (with_key, error.problems)
    else:
        raise AssertionError(f"no SpecError for key {name!r} at {path}")


@FAST
@given(required=st.sampled_from([("name",), ("data",), ("data", "source")]))
def test_a_missing_required_field_is_reported(required):
    spec = copy.deepcopy(VALID)
    target = spec
    for step in required[:-1]:
        target = target[step]
    del target[required[-1]]
    try:
        parse_spec(spec, "/tmp")
    except SpecError as error:
        assert any(line.startswith(".".join(required) + ": is required") for line in error.problems)
    else:
        raise AssertionError(f"no SpecError without {required}")


json_like = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=8),
    lambda children: (
        st.lists(children, max_size=4)
        | st.dictionaries(st.text(max_size=8) | st.integers(), children, max_size=4)
    ),
    max_leaves=12,
)


@FAST
@given(path=st.sampled_from([(), *PATHS]), value=json_like)
def test_any_value_anywhere_gives_a_spec_or_a_spec_error_never_another_exception(path, value):
    spec = copy.deepcopy(VALID)
    if path:
        set_at(spec, path, value)
    else:
        spec = value
    try:
        parse_spec(spec, "/tmp")
    except SpecError as error:
        assert error.problems and all(": " in line for line in error.problems)
