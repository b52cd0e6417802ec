"""Extensions switched off equal their parent; gates that are computed change the output;
stacked and bidirectional shapes."""

from __future__ import annotations

import keras
import numpy as np
import pytest

from cells.conv_gru import ConvGRU1DCell
from cells.hoisted import HoistedRNN
from cells.layernorm_gru import LayerNormGRUCell
from cells.mgu import MGUCell
from cells.minimal import MinimalRNNCell
from tests.cells.cases import BATCH, CASE_IDS, CASES, STEPS, built_cell, randomize

ATOL = 2e-5


def test_layernorm_off_equals_keras_gru_cell():
    rng = np.random.default_rng(0)
    xs = rng.normal(size=(BATCH, STEPS, 4)).astype("float32")
    gru = keras.layers.GRUCell(5, reset_after=True)
    gru.build((None, 4))
    randomize(gru, seed=1)
    ours = LayerNormGRUCell(5, layer_norm=False)
    ours.build((None, 4))
    assert [w.shape for w in ours.weights] == [w.shape for w in gru.weights]
    ours.set_weights(gru.get_weights())
    expected = keras.layers.RNN(gru, return_sequences=True)(xs)
    np.testing.assert_allclose(
        np.asarray(HoistedRNN(ours, return_sequences=True)(xs)), np.asarray(expected), atol=ATOL
    )
    np.testing.assert_allclose(
        np.asarray(keras.layers.RNN(ours, return_sequences=True)(xs)),
        np.asarray(expected),
        atol=ATOL,
    )


def test_layernorm_on_differs_from_off():
    xs = np.random.default_rng(0).normal(size=(BATCH, STEPS, 4)).astype("float32")
    on, off = LayerNormGRUCell(5), LayerNormGRUCell(5, layer_norm=False)
    on.build((None, 4))
    off.build((None, 4))
    randomize(off, seed=1)
    on.kernel.assign(off.kernel)
    on.recurrent_kernel.assign(off.recurrent_kernel)
    moved = np.abs(np.asarray(HoistedRNN(on)(xs)) - np.asarray(HoistedRNN(off)(xs))).max()
    assert moved > 0.05


def _output(cell, xs):
    return np.asarray(HoistedRNN(cell, return_sequences=True)(xs))


# (cell factory, step shape, weight name, columns of that gate) for every gate of every cell.
GATES = [
    (lambda: MinimalRNNCell(5), (4,), "recurrent_kernel", slice(0, 5), "u"),
    (lambda: MGUCell(5), (4,), "forget_recurrent_kernel", slice(0, 5), "f"),
    (lambda: LayerNormGRUCell(5), (4,), "recurrent_kernel", slice(0, 5), "z"),
    (lambda: LayerNormGRUCell(5), (4,), "recurrent_kernel", slice(5, 10), "r"),
    (lambda: ConvGRU1DCell(3, 3), (6, 2), "gate_recurrent_kernel", slice(0, 3), "z"),
    (lambda: ConvGRU1DCell(3, 3), (6, 2), "gate_recurrent_kernel", slice(3, 6), "r"),
    (
        lambda: ConvGRU1DCell(3, 3, separable=True),
        (6, 2),
        "gate_recurrent_kernel",
        slice(3, 6),
        "r",
    ),
]


@pytest.mark.parametrize(
    "make, step_shape, weight, columns, gate",
    GATES,
    ids=["minimal-u", "mgu-f", "layernorm-z", "layernorm-r", "conv-z", "conv-r", "sepconv-r"],
)
def test_every_gate_changes_the_output(make, step_shape, weight, columns, gate):
    # Perturb only the weights that feed one gate; if the gate were computed but unused
    # (the ConvGRU reset-gate bug), the output would not move.
    xs = np.random.default_rng(0).normal(size=(BATCH, STEPS, *step_shape)).astype("float32")
    cell = make()
    cell.build((None, *step_shape))
    randomize(cell, seed=1)
    before = _output(cell, xs)
    variable = next(v for v in cell.weights if v.name == weight)
    value = np.asarray(variable).copy()
    # Random, not constant: layer norm is blind to a shift shared by all units of a block.
    value[..., columns] += np.random.default_rng(2).normal(size=value[..., columns].shape)
    variable.assign(value)
    assert np.abs(_output(cell, xs) - before).max() > 1e-2


def test_conv_reset_gate_multiplies_the_state():
    # Saturate r to 0 through its bias: the candidate must then ignore the previous state, so
    # the output equals the one computed with U_h zeroed.
    xs = np.random.default_rng(0).normal(size=(BATCH, STEPS, 6, 2)).astype("float32")
    cell = ConvGRU1DCell(3, 3)
    cell.build((None, 6, 2))
    randomize(cell, seed=1)
    bias = np.asarray(cell.bias).copy()
    bias[3:6] = -50.0
    cell.bias.assign(bias)
    closed = _output(cell, xs)
    original = np.asarray(cell.recurrent_kernel).copy()
    cell.recurrent_kernel.assign(np.zeros_like(original))  # U_h = 0
    np.testing.assert_allclose(_output(cell, xs), closed, atol=1e-5)
    # Opened (r = 1) with U_h back in place, the state reaches the candidate again.
    cell.recurrent_kernel.assign(original)
    bias[3:6] = 50.0
    cell.bias.assign(bias)
    assert np.abs(_output(cell, xs) - closed).max() > 1e-2


@pytest.mark.parametrize("case", CASES, ids=CASE_IDS)
def test_bidirectional_shapes_and_backward_half(case):
    cell, _ = built_cell(case)
    xs = case.inputs()
    layer = keras.layers.Bidirectional(HoistedRNN(cell, return_sequences=True))
    outputs = np.asarray(layer(xs))
    size = cell.output_size
    assert outputs.shape == (BATCH, STEPS, 2 * size)
    backward = layer.backward_layer
    assert backward.go_backwards
    # The backward half, re-aligned to time order, is the backward layer's reversed output.
    reversed_run = np.asarray(backward(xs))[:, ::-1]
    np.testing.assert_allclose(outputs[..., size:], reversed_run, atol=ATOL)


def test_stacked_custom_cells_share_one_loop():
    xs = np.random.default_rng(0).normal(size=(BATCH, STEPS, 4)).astype("float32")
    cells = [MinimalRNNCell(5), MGUCell(6), LayerNormGRUCell(7)]
    stacked = keras.layers.RNN(keras.layers.StackedRNNCells(cells), return_sequences=True)
    outputs = np.asarray(stacked(xs))
    assert outputs.shape == (BATCH, STEPS, 7)
    # Same weights as three hoisted layers in sequence: same result.
    layered = xs
    for cell in cells:
        layered = HoistedRNN(cell, return_sequences=True)(layered)
    np.testing.assert_allclose(np.asarray(layered), outputs, atol=ATOL)
