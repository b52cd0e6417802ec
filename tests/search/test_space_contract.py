"""Every architecture a space can propose builds and trains, exactly as a trial does.

The rows cross every cell with every attention option and both directions, whether the default
space searches them or a user's space adds them (the recurrent loop
is where compilation has failed: a conv cell under the attention wrapper did not compile under
XLA on TensorFlow), and take the head kinds in turn, so that every cell and every attention
option trains under every head kind. The other categorical options (depth, residual, the
convolutional branch and its width, the front-ends, units, kernels, the forecasting heads) sit
outside that loop; each row takes the next value of each of them in turn, with strides that
differ per option, so every value of every option trains beside every cell. The whole product
(thousands of models, 5-50 s each to trace on 2 cores) would not fit in CI.

Each row goes through `search.trial.build_trial_model` (the trial's own seeding, building and
compiling, XLA where a trial gets it) and one epoch of `fit` with a partial last batch and
validation data, because the XLA failure appeared only once the batch size changed.
Runs on TensorFlow and, in CI, again on JAX (`make test`).
"""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest

from cells.architecture import ATTENTIONS, HEAD_KINDS, VARIANTS, Head
from search.data.task import Task
from search.spec import parse_spec
from search.trial import build_trial_model
from tests.fakes import offline_settings

pytestmark = pytest.mark.slow

STEPS, FEATURES, CASES, BATCH = 12, 3, 6, 4  # 6 cases in batches of 4: a partial last batch
# Options a trial can take besides the crossed ones, with the values this test trains. Axes the
# default space does not search (residual, the causal front-end, downsampling) take the values
# a user's space would.
EXTRA_AXES = {
    "depth": [1, 2],
    "residual": [False, True],
    "frontend_kernel": [0, 3],
    "downsample": [1, 2],
    "dimension_shuffle": [False, True],
}
CROSSED = ("cell", "attention", "bidirectional", "head")


def _space(kind: str):
    data = {
        "classification": {"source": "aeon:GunPoint"},
        "regression": {"source": "adding", "task": "regression"},
        "forecasting": {"source": "airline", "task": "forecasting", "window": 24},
    }[kind]
    return parse_spec({"name": "contract", "data": data}, "/tmp").space


def _axes(space) -> dict[str, list]:
    """The default space's categorical options (ranges of integers listed), plus EXTRA_AXES;
    the crossed ones (cells, attention) are every option the product has."""
    axes = {}
    for parameter in space.parameters:
        domain = parameter.domain()
        if domain is not None and parameter.name not in ("batch_size",) and len(domain) > 1:
            axes[parameter.name] = list(domain)
    for name, values in EXTRA_AXES.items():
        axes.setdefault(name, values)
    axes.update(cell=list(VARIANTS), attention=list(ATTENTIONS))
    return axes


def _rows() -> list[tuple[str, dict]]:
    spaces = {kind: _space(kind) for kind in HEAD_KINDS}
    axes = {kind: _axes(space) for kind, space in spaces.items()}
    rows = []
    crossed = itertools.product(VARIANTS, ATTENTIONS, [False, True])
    for index, (cell, attention, bidirectional) in enumerate(crossed):
        # Attention changes every 2 rows and the cell every 8: a head kind per pair of rows
        # gives every cell and every attention option each head kind.
        kind = HEAD_KINDS[(index // 2) % len(HEAD_KINDS)]
        space = spaces[kind]
        values = {"cell": cell, "attention": attention, "bidirectional": bidirectional}
        others = [name for name in axes[kind] if name not in CROSSED]
        for stride, name in enumerate(others, start=1):
            options = axes[kind][name]
            values[name] = options[(index * stride + index // len(options)) % len(options)]
        values.update(dropout=0.1, learning_rate=1e-3, batch_size=BATCH)
        extra = {
            name: values[name]
            for name in (*EXTRA_AXES, *CROSSED)
            if name in values and name not in space.names
        }
        rows.append((kind, {**space.active(values), **extra}))
    return rows


ROWS = _rows()


def _id(row) -> str:
    kind, values = row
    bi = "bi" if values["bidirectional"] else "uni"
    return f"{kind}-{values['cell']}-{values['attention']}-{bi}"


def _task(kind: str, padded: bool = True) -> Task:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(CASES, STEPS, FEATURES)).astype("float32")
    if padded:  # a pre-padded case: the mask path is part of every model that has one
        x[0, :3] = np.nan
    if kind == "classification":
        head, y = Head("classification", 3), np.arange(CASES) % 3
    elif kind == "regression":
        head, y = (
            Head("regression", 1, target_mean=(0.0,), target_std=(1.0,)),
            rng.normal(size=(CASES, 1)),
        )
    else:
        head = Head("forecasting", 1, horizon=2, target_mean=(0.0,), target_std=(1.0,))
        y = rng.normal(size=(CASES, 2, 1))
    y = y.astype("int64" if kind == "classification" else "float32")
    mean, std = np.zeros(FEATURES), np.ones(FEATURES)
    return Task(
        kind, x, y, x[:3], y[:3], x[:3], y[:3], head, mean, std, ("a", "b", "c"), None, "contract"
    )


def test_the_rows_cross_every_cell_attention_and_direction_and_reach_every_option():
    assert len(ROWS) == len(VARIANTS) * len(ATTENTIONS) * 2
    crossed = {(v["cell"], v["attention"], v["bidirectional"]) for _, v in ROWS}
    assert len(crossed) == len(ROWS)
    for kind in HEAD_KINDS:
        rows = [values for k, values in ROWS if k == kind]
        assert {v["cell"] for v in rows} == set(VARIANTS)
        assert {v["attention"] for v in rows} == set(ATTENTIONS)
    for kind in HEAD_KINDS:
        rows = [values for k, values in ROWS if k == kind]
        for name, options in _axes(_space(kind)).items():
            seen = {values.get(name) for values in rows}
            assert set(options) <= seen, (kind, name, options, seen)
    forecasting = _axes(_space("forecasting"))
    assert forecasting["ar_highway"] and forecasting["revin"]  # the extrapolating heads are in


@pytest.mark.parametrize("row", ROWS, ids=[_id(r) for r in ROWS])
def test_every_architecture_of_the_space_trains_one_epoch_as_a_trial_compiles_it(row):
    kind, values = row
    # The shuffled stack reads one step per channel, so it needs series of one length.
    task = _task(kind, padded=not values.get("dimension_shuffle"))
    model, config = build_trial_model(values, "0", task, offline_settings())
    history = model.fit(
        task.x_train,
        task.y_train,
        validation_data=(task.x_val, task.y_val),
        batch_size=config.training.batch_size,
        epochs=1,
        verbose=0,
    )
    # Validation ran the model in inference mode on a padded case too.
    assert math.isfinite(history.history["loss"][0]) and math.isfinite(
        history.history["val_loss"][0]
    )
