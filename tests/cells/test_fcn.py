"""`FullyConvolutionalBranch` and `SqueezeExcite` against NumPy, padding, and `fcn` in the model."""

from __future__ import annotations

import keras
import numpy as np
import pytest

import cells
from cells import Architecture, Head
from cells.fcn import FullyConvolutionalBranch, SqueezeExcite
from tests.cells import numpy_layers as ref
from tests.cells.seeded import arrays, conv_weights, norm_weights, pad, randomize_layer

ATOL = 1e-4
RNG = np.random.default_rng(0)
# Three series of 9, 6 and 7 steps in 11: unpadded-ish, pre-padded, padded on both sides.
SERIES = [RNG.normal(size=(n, 3)).astype("float32") for n in (9, 6, 7)]
STARTS = (2, 5, 1)
STEPS = 11


def _padded(series, fill):
    """The series placed at STARTS in STEPS steps, `fill` elsewhere, and their mask."""
    x = np.stack([pad(s, STEPS, start, fill) for s, start in zip(series, STARTS, strict=True)])
    mask = np.zeros((len(series), STEPS), dtype=bool)
    for row, (s, start) in enumerate(zip(series, STARTS, strict=True)):
        mask[row, start : start + len(s)] = True
    return x, mask


def _branch(squeeze_excite: bool, seed: int = 0) -> FullyConvolutionalBranch:
    branch = FullyConvolutionalBranch(4, squeeze_excite=squeeze_excite)
    branch.build((None, None, 3))
    randomize_layer(branch, seed)
    return branch


def _reference(branch, series):
    excites = [arrays(e.squeeze_kernel, e.excite_kernel) for e in branch.excites]
    convs = [conv_weights(c) for c in branch.convs]
    norms = [norm_weights(n) for n in branch.norms]
    return ref.fcn_branch(series.astype("float64"), convs, norms, excites)


@pytest.mark.parametrize("squeeze_excite", [False, True], ids=["fcn", "se_fcn"])
def test_branch_matches_numpy_on_each_series_whatever_the_padding_holds(squeeze_excite):
    branch = _branch(squeeze_excite)
    # Junk (not zeros) at the padded steps: the mask alone must keep it out.
    x, mask = _padded(SERIES, fill=7.0)
    got = np.asarray(branch(x, mask=mask, training=False))
    assert got.shape == (3, 4)
    for row, series in enumerate(SERIES):
        np.testing.assert_allclose(got[row], _reference(branch, series), atol=ATOL)


def test_squeeze_excite_matches_numpy_and_its_gate_changes_the_output():
    # Non-negative like the ReLU output it follows in the branch.
    h = np.abs(np.random.default_rng(1).normal(size=(2, 5, 32))).astype("float32")
    h[1] *= 4.0
    layer = SqueezeExcite()
    layer.build(h.shape)
    randomize_layer(layer, seed=3)
    assert layer.squeeze_kernel.shape == (32, 2)  # reduction 16
    got = np.asarray(layer(h))
    weights = arrays(layer.squeeze_kernel, layer.excite_kernel)
    for row in range(2):
        np.testing.assert_allclose(got[row], ref.squeeze_excite(h[row], *weights), atol=1e-5)
    # The gate is computed per sample and channel, not a constant that a scale could absorb.
    gate = got / h  # (2, 5, 32): the same at every step
    np.testing.assert_allclose(gate, np.broadcast_to(gate[:, :1], gate.shape), rtol=1e-4)
    assert np.ptp(gate[:, 0], axis=-1).min() > 0.05 and np.abs(gate[0, 0] - gate[1, 0]).max() > 0.02
    # And the branch uses it: with it the output differs from the same branch without.
    plain, excited = _branch(False, seed=1), _branch(True, seed=1)
    for a, b in zip(plain.convs + plain.norms, excited.convs + excited.norms, strict=True):
        b.set_weights(a.get_weights())
    x, mask = _padded(SERIES, fill=0.0)
    moved = np.abs(np.asarray(plain(x, mask=mask)) - np.asarray(excited(x, mask=mask))).max()
    assert moved > 1e-3


def test_training_mode_batch_statistics_count_only_valid_steps():
    branch = _branch(True)
    series = np.stack([s[:6] for s in SERIES])  # (3, 6, 3): three series of 6 steps
    x, mask = _padded(series, fill=7.0)
    expected = np.asarray(branch(series, training=True))
    np.testing.assert_allclose(np.asarray(branch(x, mask=mask, training=True)), expected, atol=ATOL)


def test_config_round_trip_and_errors():
    branch = FullyConvolutionalBranch(8, squeeze_excite=True, name="fcn")
    clone = FullyConvolutionalBranch.from_config(branch.get_config())
    assert (clone.filters, clone.squeeze_excite, clone.name) == (8, True, "fcn")
    assert [c.kernel_size for c in clone.convs] == [(8,), (5,), (3,)]
    assert [c.filters for c in clone.convs] == [8, 16, 8]
    with pytest.raises(ValueError, match="positive integer `filters`, but got 0"):
        FullyConvolutionalBranch(0)
    with pytest.raises(ValueError, match="positive integer `reduction`, but got 0"):
        SqueezeExcite(reduction=0)


def test_model_with_fcn_ignores_nan_padding_and_reads_full_resolution():
    keras.utils.set_random_seed(0)
    arch = Architecture(units=4, fcn="se_fcn", fcn_filters=4, downsample=2)
    model = cells.build_model(arch, (None, 3), Head("classification", 3))
    randomize_layer(model.get_layer("fcn"), seed=2)  # batch norm statistics not 0 and 1
    x = RNG.normal(size=(4, 8, 3)).astype("float32")
    expected = np.asarray(model(x, training=False))
    # Padding by a multiple of the downsampling factor leaves the whole model unchanged (the
    # branch alone by any number of steps: the first test).
    splits = ((6, 0), (2, 4), (0, 6))  # steps before and after, as one batch of one length
    padded = np.concatenate(
        [np.pad(x, ((0, 0), split, (0, 0)), constant_values=np.nan) for split in splits]
    )
    got = np.asarray(model(padded, training=False))
    np.testing.assert_allclose(got, np.concatenate([expected] * len(splits)), atol=1e-5)
    # The branch sees every step; the recurrent stack half of them.
    fixed = cells.build_model(arch, (8, 3), Head("classification", 3))
    assert fixed.get_layer("fcn").input[0].shape == (None, 8, 3)
    assert fixed.get_layer("fcn").output.shape == (None, 4)
    assert fixed.get_layer("recurrent_0").input[0].shape[1] == 4
    assert fixed.get_layer("fcn_concat").output.shape == (None, 4 + 4)
