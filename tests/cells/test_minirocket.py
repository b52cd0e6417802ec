"""`MiniRocketFeatures` against aeon's MiniRocket, and the ridge start of a model with it."""

from __future__ import annotations

import keras
import numpy as np
import pytest
from aeon.transformations.collection.convolution_based import MiniRocket
from aeon.transformations.collection.convolution_based._minirocket import _fit_dilations
from sklearn.linear_model import RidgeClassifierCV, RidgeCV

import cells
from cells import Architecture, Head
from cells.minirocket import RIDGE_ALPHAS, MiniRocketFeatures, dilations_for, start_at_ridge

RNG = np.random.default_rng(0)


@pytest.mark.parametrize("length", [9, 12, 150, 1460])
def test_the_dilations_and_feature_counts_are_aeons(length):
    dilations, counts = _fit_dilations(length, 10_000, 32)
    assert dilations_for(length, 10_000) == (list(dilations), list(counts))


@pytest.mark.parametrize("channels", [1, 3])
def test_with_aeons_parameters_the_features_are_aeons(channels):
    x = RNG.normal(size=(5, channels, 60)).astype("float32")  # aeon's (cases, channels, steps)
    fitted = MiniRocket(random_state=0).fit(x)
    sizes, indices, dilations, _, biases = fitted.parameters
    layer = MiniRocketFeatures(60)
    layer.build((None, 60, channels))
    assert layer.dilations == list(dilations)
    chosen, start = np.zeros((len(sizes), channels), "float32"), 0
    for pair, size in enumerate(sizes):  # aeon lists each (dilation, kernel)'s channels in a row
        chosen[pair, indices[start : start + size]] = 1.0
        start += size
    layer.channel_sets.assign(chosen.reshape(len(dilations), 84, channels).transpose(0, 2, 1))
    layer.set_biases(biases)
    ours = np.asarray(layer(np.transpose(x, (0, 2, 1))))
    # Proportions of 60 steps: a comparison decided differently would differ by 1/60 or more.
    np.testing.assert_allclose(ours, fitted.transform(x), atol=1e-5)


def test_padded_steps_count_in_no_proportion():
    layer = MiniRocketFeatures(40, num_features=84 * 4)
    series = RNG.normal(size=(1, 40, 1)).astype("float32")
    layer.adapt(series)
    padded = np.concatenate([np.zeros((1, 10, 1), "float32"), series], axis=1)  # 50 steps
    mask = np.arange(50)[None, :] >= 10
    got = np.asarray(layer(padded, mask=mask))
    # Each feature is a proportion of the 40 valid steps (or of those inside the margins).
    assert np.all(got >= -1e-6) and np.all(got <= 1 + 1e-6)
    unpadded = np.asarray(layer(series))
    full = (np.arange(len(layer.dilations))[:, None] + np.arange(84)) % 2 == 0  # whole series
    per_feature = np.repeat(full.ravel(), np.repeat(layer.counts, 84))
    # The zeros in front are what the convolution pads with anyway, so over the valid steps the
    # whole-series proportions are the unpadded series' own.
    np.testing.assert_allclose(got[0, per_feature], unpadded[0, per_feature], atol=1e-6)


def test_adapt_takes_the_biases_from_quantiles_of_the_training_convolutions():
    layer = MiniRocketFeatures(30, num_features=84 * 3)
    x = RNG.normal(size=(8, 30, 2)).astype("float32")
    layer.adapt(x)
    features = np.asarray(layer(x))
    # Quantiles of one training case's convolution: a proportion strictly between 0 and 1 on
    # the training cases for nearly every feature, never a constant 0 or 1.
    assert 0.05 < features.mean() < 0.95
    assert np.mean(features.std(axis=0) > 0) > 0.9


def _model(head: Head, minirocket: bool = True):
    keras.utils.set_random_seed(0)
    arch = Architecture(units=4, fcn="fcn", fcn_filters=4, minirocket=minirocket)
    return cells.build_model(
        arch, (None, 2), head, feature_mean=[1.0, -1.0], feature_std=[2.0, 0.5], series_length=40
    )


def _cases(count: int):
    x = (RNG.normal(size=(count, 40, 2)) * [2.0, 0.5] + [1.0, -1.0]).astype("float32")
    x[: count // 3, :6] = np.nan  # some pre-padded cases
    return x


def test_the_classification_start_predicts_what_the_ridge_classifier_predicts():
    x, y = _cases(30), np.arange(30) % 3
    x[y == 1, 10:20, 0] += 3.0  # classes a ridge classifier can tell apart
    model = _model(Head("classification", 3))
    alpha = start_at_ridge(model, x, y)
    values, mask = model.get_layer("standardize")(x)
    features = np.asarray(model.get_layer("minirocket")(values, mask=mask), dtype="float64")
    scale = features.std(axis=0) + 1e-8
    ridge = RidgeClassifierCV(alphas=RIDGE_ALPHAS).fit(features / scale, y)
    assert alpha == pytest.approx(ridge.alpha_)
    probabilities = model.predict(x, verbose=0)
    np.testing.assert_allclose(probabilities.sum(axis=1), 1.0, rtol=1e-5)
    np.testing.assert_array_equal(probabilities.argmax(axis=1), ridge.predict(features / scale))
    # The network's own head is zeroed: the start is the readout alone.
    assert not np.any(model.get_layer("head").get_weights()[0])


def test_the_regression_start_is_the_ridge_regression_in_original_units():
    x = _cases(24)
    y = (np.nan_to_num(x[:, :, 0]).mean(axis=1, keepdims=True) * 5.0 + 100.0).astype("float32")
    head = Head("regression", 1, target_mean=(float(y.mean()),), target_std=(float(y.std()),))
    model = _model(head)
    start_at_ridge(model, x, y)
    values, mask = model.get_layer("standardize")(x)
    features = np.asarray(model.get_layer("minirocket")(values, mask=mask), dtype="float64")
    scale = features.std(axis=0) + 1e-8
    ridge = RidgeCV(alphas=RIDGE_ALPHAS, scoring="neg_mean_squared_error")
    ridge.fit(features / scale, (y - y.mean()) / y.std())
    expected = ridge.predict(features / scale).reshape(-1, 1) * y.std() + y.mean()
    np.testing.assert_allclose(model.predict(x, verbose=0), expected, rtol=1e-4, atol=1e-3)


def test_training_moves_the_network_and_leaves_the_readout_and_features_alone():
    x, y = _cases(12), np.arange(12) % 2
    model = _model(Head("classification", 2))
    start_at_ridge(model, x, y)
    frozen = [w.copy() for w in model.get_layer("minirocket_readout").get_weights()]
    biases = model.get_layer("minirocket").get_weights()
    cells.compile_model(model, Head("classification", 2), 1e-2)
    model.fit(x, y, epochs=2, batch_size=4, verbose=0)
    readout = model.get_layer("minirocket_readout").get_weights()
    for before, after in zip(frozen, readout, strict=True):
        np.testing.assert_array_equal(before, after)
    for before, after in zip(biases, model.get_layer("minirocket").get_weights(), strict=True):
        np.testing.assert_array_equal(before, after)
    assert np.any(model.get_layer("head").get_weights()[0])


def test_series_of_several_lengths_need_the_padded_length():
    with pytest.raises(ValueError, match="series_length"):
        cells.build_model(Architecture(minirocket=True), (None, 2), Head("classification", 2))


def test_minirocket_is_not_for_forecasting():
    head = Head("forecasting", 1, target_mean=(0.0,), target_std=(1.0,))
    with pytest.raises(ValueError, match="minirocket applies only"):
        cells.build_model(Architecture(minirocket=True), (20, 1), head)


def test_series_shorter_than_a_kernel_get_features_of_dilation_1():
    layer = MiniRocketFeatures(6)
    x = RNG.normal(size=(4, 6, 1)).astype("float32")
    layer.adapt(x)
    features = np.asarray(layer(x))
    assert layer.dilations == [1] and features.shape == (4, 84 * 119)
    assert np.all(np.isfinite(features))
    # No step of a 6-step series has all 9 of its inputs inside it: those proportions are 0.
    interior = np.repeat(np.arange(84) % 2 == 1, 119)
    assert not np.any(features[:, interior])
