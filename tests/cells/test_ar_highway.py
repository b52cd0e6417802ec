"""`AutoregressiveHighway` against NumPy, and `ar_highway` in a forecasting model."""

from __future__ import annotations

import keras
import numpy as np
import pytest

import cells
from cells import Architecture, Head
from cells.autoregressive import AutoregressiveHighway
from tests.cells import numpy_layers as ref
from tests.cells.seeded import pad, randomize_layer

RNG = np.random.default_rng(0)
MEAN, STD = np.array([10.0, -3.0, 0.5]), np.array([2.0, 0.5, 4.0])
HEAD = Head("forecasting", 2, horizon=3, target_mean=tuple(MEAN[:2]), target_std=tuple(STD[:2]))


def test_matches_numpy_on_the_last_valid_steps_of_each_target():
    layer = AutoregressiveHighway(4, horizon=3, num_outputs=2)
    layer.build((None, None, 3))
    randomize_layer(layer)
    kernel, bias = np.asarray(layer.kernel), np.asarray(layer.bias)
    series = [RNG.normal(size=(n, 3)) for n in (9, 6, 3)]
    starts = (0, 3, 2)  # unpadded, pre-padded, both sides; 3 steps: shorter than the window
    x = np.stack([pad(s, 9, start, fill=8.0) for s, start in zip(series, starts, strict=True)])
    mask = np.zeros((3, 9), dtype=bool)
    for row, (s, start) in enumerate(zip(series, starts, strict=True)):
        mask[row, start : start + len(s)] = True
    got = np.asarray(layer(x, mask=mask))
    assert got.shape == (3, 3, 2)
    for row, s in enumerate(series[:2]):
        np.testing.assert_allclose(got[row], ref.ar_forecast(s, kernel, bias, 2), atol=1e-5)
    # A window reaching back past the start of its series reads 0 there, whatever the padding holds.
    short = np.concatenate([np.zeros((1, 3)), series[2]])
    np.testing.assert_allclose(got[2], ref.ar_forecast(short, kernel, bias, 2), atol=1e-5)


def _ar_model(arch: Architecture, steps: int | None = None):
    keras.utils.set_random_seed(0)
    model = cells.build_model(arch, (steps, 3), HEAD, feature_mean=MEAN, feature_std=STD)
    dense = model.get_layer("head")  # the neural branch's forecast: zero
    dense.set_weights([np.zeros_like(w) for w in dense.get_weights()])
    return model


def test_with_the_network_zeroed_the_model_is_a_linear_ar_model_in_original_units():
    model = _ar_model(Architecture(units=4, ar_highway=4))
    highway = model.get_layer("ar_highway")
    randomize_layer(highway, seed=2)
    W, b = (np.asarray(w, dtype="float64") for w in (highway.kernel, highway.bias))
    x = (MEAN + STD * RNG.normal(size=(2, 7, 3))).astype("float32")
    got = np.asarray(model(x, training=False))
    # LSTNet's AR on standardised targets, written out in original units, per target c:
    # y_hc = sum_j W_jh x_jc + (1 - sum_j W_jh) mean_c + b_h std_c.
    recent = x[:, -4:, :2].astype("float64")  # (batch, 4, 2)
    expected = (
        np.einsum("bjc,jh->bhc", recent, W)
        + (1.0 - W.sum(axis=0))[None, :, None] * MEAN[:2]
        + b[None, :, None] * STD[:2]
    )
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-4)


def test_a_last_value_highway_is_persistence_at_levels_outside_the_training_range():
    model = _ar_model(Architecture(units=4, ar_highway=3))
    highway = model.get_layer("ar_highway")
    last_value = np.zeros((3, 3), dtype="float32")
    last_value[-1] = 1.0  # every horizon step copies the last step
    highway.set_weights([last_value, np.zeros(3, dtype="float32")])
    x = (5000.0 + RNG.normal(size=(2, 6, 3)) * 100.0).astype("float32")  # far from MEAN
    x[1, :2] = np.nan  # pre-padding
    got = np.asarray(model(x, training=False))
    np.testing.assert_allclose(got, np.repeat(x[:, -1:, :2], 3, axis=1), rtol=1e-6)


def test_the_highway_is_added_after_revin_de_normalises_the_network():
    # Both on, network zeroed: RevIN gives the window mean, the highway adds its linear part
    # of the window's deviations from that mean.
    model = _ar_model(Architecture(units=4, ar_highway=2, revin=True))
    highway = model.get_layer("ar_highway")
    randomize_layer(highway, seed=3)
    W, b = (np.asarray(w, dtype="float64") for w in (highway.kernel, highway.bias))
    x = (MEAN + STD * RNG.normal(size=(2, 5, 3))).astype("float32")
    got = np.asarray(model(x, training=False))
    standardized = (x[:, :, :2] - MEAN[:2]) / STD[:2]
    deviations = standardized - standardized.mean(axis=1, keepdims=True)
    linear = np.einsum("bjc,jh->bhc", deviations[:, -2:], W) + b[None, :, None]
    expected = x[:, :, :2].mean(axis=1, keepdims=True) + linear * STD[:2]
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-4)


@pytest.mark.parametrize("fcn", ["none", "fcn"])
def test_with_revin_a_window_shifted_by_a_constant_is_forecast_shifted_by_it(fcn):
    # Every weight random, the network's included: nothing but the window's mean sees its level.
    keras.utils.set_random_seed(4)
    arch = Architecture(units=4, ar_highway=3, revin=True, fcn=fcn, fcn_filters=4)
    model = cells.build_model(arch, (6, 3), HEAD, feature_mean=MEAN, feature_std=STD)
    for layer in model.layers:
        if layer.name not in ("standardize", "original_units", "revin"):  # statistics, not weights
            randomize_layer(layer, seed=5)
    revin = model.get_layer("revin")
    revin.affine_weight.assign(RNG.uniform(0.5, 2.0, size=3).astype("float32"))
    revin.affine_bias.assign(RNG.normal(size=3).astype("float32"))
    x = (MEAN + STD * RNG.normal(size=(2, 6, 3))).astype("float32")
    x[1, :2] = np.nan  # pre-padding
    shift = np.array([40.0, -7.0, 0.0], dtype="float32")  # the target channels' levels move
    got, shifted = (np.asarray(model(v, training=False)) for v in (x, x + shift))
    np.testing.assert_allclose(shifted, got + shift[:2], rtol=1e-4, atol=1e-3)


def test_config_round_trip():
    layer = AutoregressiveHighway(24, horizon=6, num_outputs=2, name="ar_highway")
    clone = AutoregressiveHighway.from_config(layer.get_config())
    assert (clone.window, clone.horizon, clone.num_outputs, clone.name) == (24, 6, 2, "ar_highway")


@pytest.mark.parametrize(
    "call, message",
    [
        (
            lambda: cells.build_model(Architecture(ar_highway=4), (None, 3), Head("regression", 1)),
            "ar_highway=4 applies only to forecasting heads, but the head is 'regression'; "
            "set ar_highway=0 for this task.",
        ),
        (
            lambda: cells.build_model(Architecture(ar_highway=8), (6, 3), HEAD),
            "ar_highway=8 looks further back than the 6 input steps; use at most 6.",
        ),
        (
            lambda: cells.build_model(Architecture(ar_highway=2), (6, 1), HEAD),
            "read the first 2 input features as the target series .* only 1 features",
        ),
        (lambda: AutoregressiveHighway(0), "positive integer `window`, but got 0"),
    ],
    ids=["not-forecasting", "too-far-back", "too-few-features", "window"],
)
def test_errors_name_what_to_fix(call, message):
    with pytest.raises(ValueError, match=message):
        call()


def _ar_series(coefficients, steps, seed):
    """A noise-free AR series around MEAN[0]: the least-squares fit of its lags is exact."""
    rng = np.random.default_rng(seed)
    values = list(rng.normal(size=len(coefficients)))
    while len(values) < steps:
        values.append(float(np.dot(coefficients, values[-len(coefficients) :])))
    return MEAN[0] + STD[0] * np.asarray(values)


def _started(revin: bool):
    from cells.autoregressive import start_at_least_squares

    head = Head("forecasting", 1, horizon=2, target_mean=(MEAN[0],), target_std=(STD[0],))
    keras.utils.set_random_seed(0)
    model = cells.build_model(
        Architecture(units=4, ar_highway=3, revin=revin),
        (8, 1),
        head,
        feature_mean=MEAN[:1],
        feature_std=STD[:1],
    )
    # A stable oscillation (roots inside the unit circle); windows of 8 steps, 2 ahead.
    series = _ar_series([0.3, -0.5, 0.9], 120, seed=1)
    windows = np.lib.stride_tricks.sliding_window_view(series, 10)[:, :, None].astype("float32")
    x, y = windows[:, :8], windows[:, 8:]
    return model, x, y, start_at_least_squares(model, x, y)


def test_starting_at_least_squares_recovers_an_ar_process_with_the_network_zeroed():
    from cells.autoregressive import RIDGE_ALPHAS

    model, x, y, alpha = _started(revin=False)
    assert alpha == min(RIDGE_ALPHAS)  # noise-free: leave-one-out wants no penalty
    np.testing.assert_array_equal(model.get_layer("head").get_weights()[0], 0.0)
    # Two steps ahead of an AR(3) is linear in the last 3 steps too: the fit is exact.
    np.testing.assert_allclose(np.asarray(model.predict(x, verbose=0)), y, atol=5e-3 * STD[0])


def test_with_revin_the_highway_fits_what_the_window_mean_misses():
    model, x, y, alpha = _started(revin=True)
    np.testing.assert_array_equal(model.get_layer("head").get_weights()[0], 0.0)
    window_mean = x.mean(axis=1, keepdims=True)  # the zeroed network's forecast under RevIN
    got = np.asarray(model.predict(x, verbose=0))
    assert np.mean((got - y) ** 2) < 0.1 * np.mean((window_mean - y) ** 2)
    # It is the ridge fit of the residual on the last 3 steps' deviations from the window mean.
    from sklearn.linear_model import Ridge

    deviations = (x[:, -3:, 0] - window_mean[:, :, 0]) / STD[0]
    fit = Ridge(alpha=alpha).fit(deviations, (y - window_mean)[:, :, 0] / STD[0])
    expected = window_mean + STD[0] * fit.predict(deviations)[:, :, None]
    np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-3 * STD[0])
