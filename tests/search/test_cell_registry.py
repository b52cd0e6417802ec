"""A cell variant registered in one place is searched: a spec names it, and a trial samples,
builds and trains it; the specs' `when: {cell: ...}` conditions follow the declarations."""

from __future__ import annotations

import dataclasses
import math
from pathlib import Path

import numpy as np
import pytest
import yaml

from cells.architecture import Head
from cells.registry import VARIANT_OPTIONS, default_cells, variants_with
from search.data.task import Task
from search.errors import SpecError
from search.spec import DEFAULT_SPACE, parse_spec
from search.trial import build_trial_model
from tests.cells.toy_cell import TOY, ToyCell, toy_variant
from tests.fakes import offline_settings

ROOT = Path(__file__).resolve().parents[2]
SETTINGS = offline_settings()


def _spec(space=None):
    spec = {"name": "toy", "data": {"source": "aeon:GunPoint"}}
    return parse_spec(spec if space is None else {**spec, "space": space}, "/tmp")


def _task() -> Task:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(6, 12, 2)).astype("float32")
    x[0, :3] = np.nan  # a pre-padded case
    y = (np.arange(6) % 3).astype("int64")
    mean, std = np.zeros(2), np.ones(2)
    head, names = Head("classification", 3), ("a", "b")
    return Task(
        "classification", x, y, x[:3], y[:3], x[:3], y[:3], head, mean, std, names, None, "toy"
    )


def test_a_registered_variant_is_sampled_built_and_trained_as_a_trial():
    with toy_variant():
        spec = _spec({"cell": ["toy"], "units": [4], "depth": 2, "batch_size": 4})
        values = spec.space.sample(0)
        assert values["cell"] == "toy"
        task = _task()
        model, config = build_trial_model(values, "0", task, SETTINGS)
        assert config.architecture.variant == "toy"
        assert isinstance(model.get_layer("recurrent_1").cell, ToyCell)
        history = model.fit(
            task.x_train,
            task.y_train,
            validation_data=(task.x_val, task.y_val),
            batch_size=config.training.batch_size,
            epochs=1,
            verbose=0,
        )
        assert math.isfinite(history.history["val_loss"][0])
    with pytest.raises(SpecError, match=r'space\.cell: .* not allowed: \["toy"\]'):
        _spec({"cell": ["toy"]})


def test_a_variant_with_a_default_rank_joins_the_default_space_in_its_place():
    assert _spec().space["cell"].values == ("gru", "mgu", "minimal", "layernorm")
    # Rank 1 is mgu's too: a tie keeps the order of registration.
    with toy_variant(dataclasses.replace(TOY, default_rank=1)):
        assert default_cells() == ["gru", "mgu", "toy", "minimal", "layernorm"]
        assert _spec().space["cell"].values == ("gru", "mgu", "toy", "minimal", "layernorm")
    assert DEFAULT_SPACE["cell"] == ["gru", "mgu", "minimal", "layernorm"]
    assert _spec().space["cell"].values == ("gru", "mgu", "minimal", "layernorm")


@pytest.mark.parametrize("option", VARIANT_OPTIONS)
def test_the_reference_spec_conditions_each_option_on_the_cells_that_read_it(option):
    space = yaml.safe_load((ROOT / "examples" / "reference.yaml").read_text())["space"]
    entry = space[option]
    if isinstance(entry, dict) and "when" in entry:
        searched = set(space["cell"])
        assert set(entry["when"]["cell"]) == searched & set(variants_with(option))
    else:
        # Not searched: one value, which the other cells ignore.
        assert not isinstance(entry, list | dict), entry
