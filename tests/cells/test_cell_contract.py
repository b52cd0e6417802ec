"""The Keras contract every cell keeps: build, call, masking, config round trip, training."""

from __future__ import annotations

import keras
import numpy as np
import pytest

from cells.hoisted import HoistedRNN
from tests.cells.cases import BATCH, CASE_IDS, CASES, STEPS, built_cell

ATOL = 2e-5


@pytest.mark.parametrize("case", CASES, ids=CASE_IDS)
def test_build_and_call_shapes(case):
    cell, _ = built_cell(case)
    xs = case.inputs()
    state = cell.get_initial_state(batch_size=BATCH)[0]
    assert tuple(state.shape) == (BATCH, cell.state_size)
    output, states = cell(xs[:, 0], [state])
    assert tuple(output.shape) == (BATCH, cell.output_size)
    assert [tuple(s.shape) for s in states] == [(BATCH, cell.state_size)]
    projected = cell.project_inputs(xs)
    assert tuple(projected.shape) == (BATCH, STEPS, cell.projection_size)
    sequence = HoistedRNN(cell, return_sequences=True)(xs)
    assert tuple(sequence.shape) == (BATCH, STEPS, cell.output_size)


@pytest.mark.parametrize("case", CASES, ids=CASE_IDS)
def test_masked_steps_are_skipped(case):
    cell, _ = built_cell(case)
    xs = case.inputs()
    keep = [0, 2, 3]
    mask = np.zeros((BATCH, STEPS), dtype=bool)
    mask[:, keep] = True
    layer = HoistedRNN(cell)
    masked = layer(xs, mask=mask)
    garbage = xs.copy()
    garbage[:, [1, 4, 5]] = 1e3  # what sits under the mask must not matter
    np.testing.assert_allclose(np.asarray(layer(garbage, mask=mask)), np.asarray(masked), atol=ATOL)
    np.testing.assert_allclose(np.asarray(layer(xs[:, keep])), np.asarray(masked), atol=ATOL)


@pytest.mark.parametrize("case", CASES, ids=CASE_IDS)
def test_get_config_round_trip(case):
    cell, _ = built_cell(case)
    clone = type(cell).from_config(cell.get_config())
    assert clone.get_config() == cell.get_config()
    layer = HoistedRNN(cell, return_sequences=True, go_backwards=True)
    xs = case.inputs()
    expected = layer(xs)
    config = keras.saving.serialize_keras_object(layer)
    restored = keras.saving.deserialize_keras_object(config)
    assert restored.get_config() == layer.get_config()
    restored.build(xs.shape)
    restored.set_weights(layer.get_weights())
    np.testing.assert_allclose(np.asarray(restored(xs)), np.asarray(expected), atol=ATOL)


@pytest.mark.parametrize("case", CASES, ids=CASE_IDS)
def test_training_step_lowers_the_loss(case):
    keras.utils.set_random_seed(0)
    xs = case.inputs(seed=1, steps=5)
    ys = np.random.default_rng(2).normal(size=(BATCH, 1)).astype("float32")
    model = keras.Sequential(
        [keras.Input(xs.shape[1:]), HoistedRNN(case.make()), keras.layers.Dense(1)]
    )
    model.compile(optimizer=keras.optimizers.Adam(0.05), loss="mse")
    before = model.evaluate(xs, ys, verbose=0)
    for _ in range(5):
        model.train_on_batch(xs, ys)
    after = model.evaluate(xs, ys, verbose=0)
    assert after < 0.9 * before


@pytest.mark.parametrize(
    "make, message",
    [
        (lambda: HoistedRNN(keras.layers.GRUCell(3)), "HoistedCell"),
        (lambda: HoistedRNN(CASES[0].make(), stateful=True), "stateful"),
        (lambda: CASES[0].make().__class__(0), "positive integer `units`"),
        (lambda: CASES[4].make().__class__(4, kernel_size=0), "positive integer `kernel_size`"),
    ],
    ids=["not-hoisted", "stateful", "units", "kernel"],
)
def test_bad_arguments_say_what_to_fix(make, message):
    with pytest.raises((ValueError, TypeError), match=message):
        make()


def test_conv_cell_needs_a_known_step_shape():
    with pytest.raises(ValueError, match=r"expects steps shaped \(batch, length, channels\)"):
        CASES[4].make().build((None, 5))


# A `.keras` file stores each cell's weights by position: names, shapes and creation order are
# the saved format (inputs: 4 features, or steps of length 6 with 2 channels for the conv cells).
WEIGHT_LAYOUT = {
    "minimal": [("kernel", (4, 5)), ("recurrent_kernel", (5, 5)), ("latent_kernel", (5, 5)),
                ("bias", (10,))],
    "mgu": [("kernel", (4, 10)), ("forget_recurrent_kernel", (5, 5)),
            ("recurrent_kernel", (5, 5)), ("bias", (10,))],
    "layernorm": [("kernel", (4, 15)), ("recurrent_kernel", (5, 15)), ("input_gamma", (15,)),
                  ("input_beta", (15,)), ("recurrent_gamma", (15,)), ("recurrent_beta", (15,))],
    "layernorm_off": [("kernel", (4, 15)), ("recurrent_kernel", (5, 15)), ("bias", (2, 15))],
    "convgru": [("kernel", (3, 2, 9)), ("gate_recurrent_kernel", (3, 3, 6)),
                ("recurrent_kernel", (3, 3, 3)), ("bias", (9,))],
    "sepconvgru": [("depthwise_kernel", (2, 2, 1)), ("kernel", (1, 2, 9)),
                   ("gate_recurrent_depthwise_kernel", (2, 3, 1)),
                   ("recurrent_depthwise_kernel", (2, 3, 1)),
                   ("gate_recurrent_kernel", (1, 3, 6)), ("recurrent_kernel", (1, 3, 3)),
                   ("bias", (9,))],
}  # fmt: skip


@pytest.mark.parametrize("case", CASES, ids=CASE_IDS)
def test_weight_layout_is_the_saved_format(case):
    cell, _ = built_cell(case)
    layout = [(w.name, tuple(int(d) for d in w.shape)) for w in cell.weights]
    assert layout == WEIGHT_LAYOUT[case.name]


@pytest.mark.parametrize("units", [0, -2, 2.0, True, "8"])
@pytest.mark.parametrize("case", CASES[:3], ids=CASE_IDS[:3])
def test_units_must_be_a_positive_integer(case, units):
    cls = type(case.make())
    with pytest.raises(ValueError, match=rf"{cls.__name__} needs a positive integer `units`"):
        cls(units)
