"""`ReversibleInstanceNormalization` against NumPy, and `revin` in forecasting and other models."""

from __future__ import annotations

import keras
import numpy as np
import pytest

import cells
from cells import Architecture, Head
from cells.revin import ReversibleInstanceNormalization
from tests.cells import numpy_layers as ref
from tests.cells.seeded import pad

RNG = np.random.default_rng(0)
SERIES = [RNG.normal(2.0, 3.0, size=(n, 3)) for n in (8, 5, 6)]
STARTS = (0, 3, 1)  # in 8 steps: unpadded, pre-padded, padded on both sides


def _layer(seed: int = 0) -> ReversibleInstanceNormalization:
    layer = ReversibleInstanceNormalization()
    layer.build((None, None, 3))
    rng = np.random.default_rng(seed)
    layer.affine_weight.assign(rng.uniform(0.5, 2.0, size=3).astype("float32"))
    layer.affine_bias.assign(rng.normal(0.0, 0.5, size=3).astype("float32"))
    return layer


def _padded(fill):
    x = np.stack([pad(s, 8, start, fill) for s, start in zip(SERIES, STARTS, strict=True)])
    mask = np.zeros((3, 8), dtype=bool)
    for row, (s, start) in enumerate(zip(SERIES, STARTS, strict=True)):
        mask[row, start : start + len(s)] = True
    return x, mask


def test_normalisation_matches_numpy_and_padded_steps_enter_no_statistic():
    layer = _layer()
    gamma, beta = np.asarray(layer.affine_weight), np.asarray(layer.affine_bias)
    x, mask = _padded(fill=1e3)  # junk far from the data: any leak moves the statistics
    normalized, (mean, std) = layer(x, mask=mask)
    normalized, mean, std = np.asarray(normalized), np.asarray(mean), np.asarray(std)
    assert mean.shape == std.shape == (3, 1, 3)
    for row, (series, start) in enumerate(zip(SERIES, STARTS, strict=True)):
        expected, mu, sigma = ref.revin_normalize(series, gamma, beta)
        np.testing.assert_allclose(mean[row, 0], mu, rtol=1e-5)
        np.testing.assert_allclose(std[row, 0], sigma, rtol=1e-5)
        valid = normalized[row, start : start + len(series)]
        np.testing.assert_allclose(valid, expected, atol=1e-5)
    assert not normalized[~mask].any()  # padded steps are zeros


def test_denormalising_the_normalised_targets_is_the_identity():
    layer = _layer(seed=1)
    gamma, beta = np.asarray(layer.affine_weight), np.asarray(layer.affine_bias)
    x, mask = _padded(fill=np.nan)
    x = np.nan_to_num(x)
    normalized, statistics = layer(x, mask=mask)
    # The first 2 channels are the targets: their normalised values come back exactly.
    restored = np.asarray(layer(normalized[:, :, :2], statistics=statistics))
    np.testing.assert_allclose(restored[mask], x[mask][:, :2], rtol=1e-5, atol=1e-5)
    # And an arbitrary forecast is de-normalised with the window's own statistics.
    y = RNG.normal(size=(3, 4, 2)).astype("float32")
    got = np.asarray(layer(y, statistics=statistics))
    for row, series in enumerate(SERIES):
        _, mu, sigma = ref.revin_normalize(series, gamma, beta)
        expected = ref.revin_denormalize(y[row], mu, sigma, gamma, beta)
        np.testing.assert_allclose(got[row], expected, rtol=1e-5, atol=1e-5)


def test_config_round_trip_and_errors():
    layer = ReversibleInstanceNormalization(epsilon=1e-3, affine=False, name="revin")
    clone = ReversibleInstanceNormalization.from_config(layer.get_config())
    assert (clone.epsilon, clone.affine, clone.name) == (1e-3, False, "revin")
    with pytest.raises(ValueError, match="`epsilon` must be positive, but got 0"):
        ReversibleInstanceNormalization(epsilon=0)


def test_a_forecast_follows_the_window_to_levels_outside_the_training_range():
    # Training statistics put the series near 0; this window sits near 1000. With the network's
    # forecast zeroed, RevIN forecasts the window's own mean, in original units.
    keras.utils.set_random_seed(0)
    head = Head("forecasting", 2, horizon=3, target_mean=(0.0, 1.0), target_std=(1.0, 2.0))
    model = cells.build_model(
        Architecture(units=4, revin=True),
        (None, 3),
        head,
        feature_mean=[0.0, 1.0, 5.0],
        feature_std=[1.0, 2.0, 3.0],
    )
    dense = model.get_layer("head")
    dense.set_weights([np.zeros_like(w) for w in dense.get_weights()])
    window = (1000.0 + RNG.normal(size=(2, 6, 3)) * [1.0, 4.0, 1.0]).astype("float32")
    window[1, :2] = np.nan  # padding enters no statistic
    got = np.asarray(model(window, training=False))
    expected = np.nanmean(window[:, :, :2], axis=1, keepdims=True)  # (2, 1, 2)
    np.testing.assert_allclose(got, np.broadcast_to(expected, got.shape), rtol=1e-5)


@pytest.mark.parametrize("kind", ["classification", "regression"])
def test_on_other_heads_revin_makes_the_prediction_blind_to_each_series_scale(kind):
    # Only normalised, never de-normalised: a series scaled and shifted (per channel, by
    # amounts that differ from series to series) gets the prediction the original gets.
    keras.utils.set_random_seed(0)
    head = Head(
        kind,
        2,
        target_mean=None if kind == "classification" else (0.0, 0.0),
        target_std=None if kind == "classification" else (1.0, 1.0),
    )
    model = cells.build_model(
        Architecture(units=4, revin=True, fcn="fcn", fcn_filters=4), (None, 3), head
    )
    x = _padded(np.nan)[0].astype("float32")
    scale = RNG.uniform(10.0, 1000.0, size=(3, 1, 3)).astype("float32")
    shift = RNG.normal(0.0, 100.0, size=(3, 1, 3)).astype("float32")
    original = np.asarray(model(x, training=False))
    rescaled = np.asarray(model(x * scale + shift, training=False))
    np.testing.assert_allclose(rescaled, original, rtol=1e-4, atol=1e-5)
    without = cells.build_model(Architecture(units=4, fcn="fcn", fcn_filters=4), (None, 3), head)
    assert not np.allclose(
        np.asarray(without(x * scale + shift, training=False)),
        np.asarray(without(x, training=False)),
        rtol=1e-2,
    )
