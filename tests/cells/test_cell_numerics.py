"""Every cell against its NumPy reference, with seeded random weights: one step, and whole
sequences through `HoistedRNN` (forwards, backwards, masked)."""

from __future__ import annotations

import keras
import numpy as np
import pytest

from cells.hoisted import HoistedRNN
from tests.cells import numpy_reference as ref
from tests.cells.cases import BATCH, CASE_IDS, CASES, built_cell

ATOL = 2e-5


@pytest.mark.parametrize("case", CASES, ids=CASE_IDS)
def test_one_step_matches_numpy(case):
    cell, weights = built_cell(case, seed=1)
    rng = np.random.default_rng(2)
    x = rng.normal(size=(BATCH, *case.step_shape)).astype("float32")
    h = rng.normal(0.0, 0.5, size=(BATCH, cell.state_size)).astype("float32")
    output, states = cell(x, [h])
    expected = case.reference(x.astype("float64"), h.astype("float64"), weights)
    np.testing.assert_allclose(np.asarray(output), expected, atol=ATOL)
    np.testing.assert_allclose(np.asarray(states[0]), expected, atol=ATOL)


@pytest.mark.parametrize("go_backwards", [False, True], ids=["forwards", "backwards"])
@pytest.mark.parametrize("case", CASES, ids=CASE_IDS)
def test_hoisted_sequence_matches_numpy(case, go_backwards):
    cell, weights = built_cell(case, seed=3)
    xs = case.inputs(seed=4)
    # Holes in the middle and padding at either end: masked steps must keep the state.
    mask = np.array([[1, 1, 1, 1, 1, 1], [0, 0, 1, 1, 1, 1], [1, 0, 1, 1, 0, 0]], dtype=bool)
    layer = HoistedRNN(cell, return_sequences=True, go_backwards=go_backwards)
    outputs = np.asarray(layer(xs, mask=mask))
    h0 = np.zeros((BATCH, cell.state_size))
    expected, _ = ref.run_sequence(
        lambda x, h: case.reference(x, h, weights),
        xs.astype("float64"),
        h0,
        mask=mask,
        go_backwards=go_backwards,
    )
    np.testing.assert_allclose(outputs, expected, atol=ATOL)


@pytest.mark.parametrize("case", CASES, ids=CASE_IDS)
def test_hoisted_layer_equals_keras_rnn_over_the_cell(case):
    cell, _ = built_cell(case, seed=5)
    xs = case.inputs(seed=6)
    hoisted = HoistedRNN(cell)(xs)
    plain = keras.layers.RNN(cell)(xs)  # the cell's own call: step(project_inputs(x_t))
    np.testing.assert_allclose(np.asarray(hoisted), np.asarray(plain), atol=ATOL)


def test_gru_reset_after_false_matches_the_seed_equations():
    # The `gru` variant with reset_after=False is the seed document's GRU (and its
    # "MinimalRNNCell" snippet): check Keras' cell against those equations.
    cell = keras.layers.GRUCell(5, reset_after=False)
    cell.build((None, 4))
    rng = np.random.default_rng(7)
    weights = {}
    for variable in cell.weights:
        value = rng.normal(0.0, 0.5, size=variable.shape).astype("float32")
        variable.assign(value)
        weights[variable.name] = value.astype("float64")
    x = rng.normal(size=(BATCH, 4)).astype("float32")
    h = rng.normal(size=(BATCH, 5)).astype("float32")
    output, _ = cell(x, [h])
    expected = ref.gru_step_reset_before(x.astype("float64"), h.astype("float64"), weights)
    np.testing.assert_allclose(np.asarray(output), expected, atol=ATOL)


def test_reference_catches_swapped_gates():
    # Guard on the test itself: with random weights, swapping MGU's gate roles moves the output.
    case = CASES[CASE_IDS.index("mgu")]
    cell, weights = built_cell(case, seed=8)
    rng = np.random.default_rng(9)
    x, h = rng.normal(size=(BATCH, 4)), rng.normal(size=(BATCH, 5))
    n = 5
    swapped = dict(weights)
    swapped["kernel"] = np.concatenate([weights["kernel"][:, n:], weights["kernel"][:, :n]], axis=1)
    moved = np.abs(ref.mgu_step(x, h, weights) - ref.mgu_step(x, h, swapped)).max()
    assert moved > 0.05


@pytest.mark.parametrize("separable", [False, True], ids=["full", "separable"])
def test_conv_cell_banded_and_convolution_paths_agree(separable, monkeypatch):
    import cells.conv_gru as conv_gru

    case = CASES[CASE_IDS.index("sepconvgru" if separable else "convgru")]
    cell, weights = built_cell(case, seed=10)
    xs = case.inputs(seed=11)
    assert cell.banded
    banded = np.asarray(HoistedRNN(cell, return_sequences=True)(xs))
    monkeypatch.setattr(conv_gru, "_BANDED_MAX_STATE", 0)
    assert not cell.banded
    convolved = np.asarray(HoistedRNN(cell, return_sequences=True)(xs))
    expected, _ = ref.run_sequence(
        lambda x, h: case.reference(x, h, weights),
        xs.astype("float64"),
        np.zeros((BATCH, cell.state_size)),
    )
    np.testing.assert_allclose(banded, expected, atol=ATOL)
    np.testing.assert_allclose(convolved, expected, atol=ATOL)
