"""`Downsampling` against NumPy, its mask, and `downsample` in the model."""

from __future__ import annotations

import keras
import numpy as np
import pytest

import cells
from cells import Architecture, Head
from cells.downsampling import Downsampling, halve_mask
from tests.cells import numpy_layers as ref
from tests.cells.seeded import conv_weights, norm_weights, pad, randomize_layer

RNG = np.random.default_rng(0)
CLASSIFY = Head("classification", 3)


def test_halve_mask_keeps_a_step_valid_if_either_source_step_is():
    mask = np.array([[True, False, False, False, False, True, False]])  # 7 steps: odd
    np.testing.assert_array_equal(np.asarray(halve_mask(mask)), [[True, False, True, False]])


def test_matches_numpy_on_each_series_padded_by_a_multiple_of_the_factor():
    layer = Downsampling(4, 5)
    layer.build((None, None, 3))
    randomize_layer(layer)
    assert len(layer.convs) == 2  # log2(4) blocks
    # 13 steps (odd, so "same" pads on both sides): one series of 13, two of 9 padded by 4
    # before or after, with junk in the padding that the mask alone must keep out.
    long, short = RNG.normal(size=(13, 3)), RNG.normal(size=(9, 3))
    x = np.stack([long, pad(short, 13, 4, fill=5.0), pad(short, 13, 0, fill=5.0)])
    mask = np.ones((3, 13), dtype=bool)
    mask[1, :4] = mask[2, 9:] = False
    values, halved = (np.asarray(t) for t in layer(x, mask=mask, training=False))
    assert values.shape == (3, 4, 5)  # ceil(13 / 4)
    np.testing.assert_array_equal(halved, [[1, 1, 1, 1], [0, 1, 1, 1], [1, 1, 1, 0]])
    convs = [conv_weights(c) for c in layer.convs]
    norms = [norm_weights(n) for n in layer.norms]
    expected_long, expected_short = (ref.downsample(s, convs, norms) for s in (long, short))
    np.testing.assert_allclose(values[0], expected_long, atol=1e-5)
    np.testing.assert_allclose(values[1, 1:], expected_short, atol=1e-5)
    np.testing.assert_allclose(values[2, :3], expected_short, atol=1e-5)
    assert not values[1, 0].any() and not values[2, 3].any()  # padded steps are zeros


def test_config_round_trip_and_errors():
    clone = Downsampling.from_config(Downsampling(8, 4, name="downsample").get_config())
    assert (clone.factor, clone.filters, clone.name, len(clone.convs)) == (8, 4, "downsample", 3)
    assert all(c.strides == (2,) and c.kernel_size == (3,) for c in clone.convs)
    with pytest.raises(ValueError, match="power of two .* but got 6"):
        Downsampling(6, 4)
    with pytest.raises(ValueError, match="positive integer `filters`, but got 0"):
        Downsampling(2, 0)


def test_a_long_series_reaches_the_recurrent_stack_shortened():
    arch = Architecture(units=4, downsample=8)
    model = cells.build_model(arch, (1344, 3), CLASSIFY)
    values, mask = model.get_layer("recurrent_0").input
    assert values.shape == (None, 168, 4) and mask.shape == (None, 168)


@pytest.mark.parametrize("variant", ["gru", "convgru"])
def test_variable_length_model_masks_the_downsampled_steps(variant):
    # convgru keeps the feature axis as its spatial axis: the convolutions keep 3 channels.
    keras.utils.set_random_seed(0)
    arch = Architecture(variant=variant, units=6, downsample=4, frontend_kernel=2)
    model = cells.build_model(arch, (None, 3), CLASSIFY)
    if variant == "convgru":
        assert model.get_layer("feature_map_0").output.shape == (None, None, 3, 1)
    randomize_layer(model.get_layer("downsample"), seed=1)
    x = RNG.normal(size=(2, 10, 3)).astype("float32")
    expected = np.asarray(model(x, training=False))
    # 8 NaN steps before, or 4 before and 4 after: same prediction, one batch of 18 steps.
    splits = ((8, 0), (4, 4))
    padded = np.concatenate(
        [np.pad(x, ((0, 0), split, (0, 0)), constant_values=np.nan) for split in splits]
    )
    got = np.asarray(model(padded, training=False))
    np.testing.assert_allclose(got, np.concatenate([expected] * len(splits)), atol=1e-5)
    # The recurrent stack is told which of the ceil(18 / 4) = 5 steps are padding.
    values, mask = model.get_layer("standardize")(padded)
    _, halved = model.get_layer("downsample")(values, mask=mask)
    np.testing.assert_array_equal(np.asarray(halved)[[0, 2]], [[0, 0, 1, 1, 1], [0, 1, 1, 1, 0]])
