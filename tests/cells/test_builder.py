"""`cells.build_model` / `cells.compile_model`: layout, heads, NaN padding, errors."""

from __future__ import annotations

import re

import keras
import numpy as np
import pytest

import cells
from cells import Architecture, Head
from cells.recurrent import make_cell

RNG = np.random.default_rng(0)
X = RNG.normal(size=(4, 7, 3)).astype("float32")
CLASSIFY = Head("classification", 3)


def _predict(model, x):
    return np.asarray(model(x, training=False))


@pytest.mark.parametrize("variant", cells.VARIANTS)
@pytest.mark.parametrize("attention", ["none", "pooling"])
def test_every_variant_builds_and_pads_with_nan(variant, attention):
    keras.utils.set_random_seed(0)
    arch = Architecture(variant=variant, units=4, attention=attention, attention_units=4)
    model = cells.build_model(arch, (None, 3), CLASSIFY)
    probabilities = _predict(model, X)
    assert probabilities.shape == (4, 3)
    np.testing.assert_allclose(probabilities.sum(axis=1), 1.0, atol=1e-5)
    # Two NaN steps before (pre-padding) or after (post-padding) change nothing.
    nan = np.full((4, 2, 3), np.nan, dtype="float32")
    for padded in (np.concatenate([nan, X], axis=1), np.concatenate([X, nan], axis=1)):
        np.testing.assert_allclose(_predict(model, padded), probabilities, atol=1e-5)


@pytest.mark.parametrize("variant", ["minimal", "sepconvgru"])
@pytest.mark.parametrize("attention", ["none", "pooling"])
def test_bidirectional_residual_stack_ignores_nan_padding(variant, attention):
    keras.utils.set_random_seed(0)
    arch = Architecture(
        variant=variant,
        depth=2,
        units=2,
        bidirectional=True,
        residual=True,
        frontend_kernel=2,
        attention=attention,
        attention_units=4,
    )
    model = cells.build_model(arch, (None, 3), CLASSIFY)
    expected = _predict(model, X)
    nan = np.full((4, 3, 3), np.nan, dtype="float32")
    for padded in (np.concatenate([nan, X], axis=1), np.concatenate([X, nan], axis=1)):
        np.testing.assert_allclose(_predict(model, padded), expected, atol=1e-5)


@pytest.mark.parametrize("attention", ["bahdanau", "luong"])
def test_attention_wrapper_on_the_top_layer(attention):
    arch = Architecture(variant="mgu", depth=2, units=4, attention=attention, attention_units=4)
    model = cells.build_model(arch, (None, 3), CLASSIFY)
    assert _predict(model, X).shape == (4, 3)
    assert type(model.get_layer("recurrent_1")).__name__ == "AttentionRNN"


def test_stack_residual_bidirectional_frontend_dropout():
    arch = Architecture(
        variant="minimal",
        depth=3,
        units=4,
        bidirectional=True,
        residual=True,
        frontend_kernel=3,
        dropout=0.2,
    )
    model = cells.build_model(arch, (7, 3), CLASSIFY)
    names = [layer.name for layer in model.layers]
    assert "frontend" in names and "residual_1" in names and "residual_2" in names
    assert model.get_layer("frontend").padding == "causal"
    assert model.get_layer("bidirectional_0").output.shape == (None, 7, 8)
    assert model.get_layer("bidirectional_2").output.shape == (None, 8)
    # Dropout is active in training only: inference is deterministic.
    np.testing.assert_allclose(_predict(model, X), _predict(model, X))


def test_gru_variant_uses_the_fused_keras_layer_with_reset_after():
    for reset_after in (True, False):
        arch = Architecture(variant="gru", depth=2, units=4, reset_after=reset_after)
        model = cells.build_model(arch, (None, 3), CLASSIFY)
        layers = [model.get_layer("recurrent_0"), model.get_layer("recurrent_1")]
        assert all(isinstance(layer, keras.layers.GRU) for layer in layers)
        assert [layer.return_sequences for layer in layers] == [True, False]
        assert all(layer.cell.reset_after is reset_after for layer in layers)


def test_conv_variant_convolves_along_the_features():
    # units=6 over 3 features: 2 filters per position, a state of 6 values like the others'.
    arch = Architecture(variant="sepconvgru", depth=2, units=6, conv_kernel=3)
    model = cells.build_model(arch, (None, 3), CLASSIFY)
    assert model.get_layer("feature_map_0").output.shape == (None, None, 3, 1)
    assert model.get_layer("feature_map_1").output.shape == (None, None, 3, 2)
    assert model.get_layer("recurrent_1").cell.separable
    assert model.get_layer("recurrent_1").output.shape == (None, 6)


@pytest.mark.parametrize(
    ("units", "features", "filters"), [(64, 8, 8), (7, 3, 3), (2, 3, 1), (1, 64, 1), (5, 1, 5)]
)
def test_conv_filters_give_a_state_of_about_units_values(units, features, filters):
    arch = Architecture(variant="convgru", units=units)
    cell = make_cell(arch, features)
    assert cell.filters == filters
    # Never narrower than asked, and less than one position's worth wider.
    assert units <= features * cell.filters < units + features


def test_conv_cell_needs_the_number_of_features():
    with pytest.raises(ValueError, match="needs the number of features .* but got None"):
        make_cell(Architecture(variant="sepconvgru"))


def test_standardisation_and_original_units():
    mean, std = np.array([1.0, -2.0, 3.0]), np.array([2.0, 0.5, 4.0])
    head = Head("regression", 2, target_mean=(10.0, -5.0), target_std=(3.0, 0.1))
    arch = Architecture(variant="mgu", units=4)
    model = cells.build_model(arch, (7, 3), head, feature_mean=mean, feature_std=std)
    raw = X * std + mean
    # Same weights, no statistics: fed pre-standardised data, the output is in standard units.
    plain = cells.build_model(arch, (7, 3), Head("regression", 2))
    plain.set_weights(model.get_weights())
    expected = _predict(plain, X) * np.array([3.0, 0.1]) + np.array([10.0, -5.0])
    np.testing.assert_allclose(_predict(model, raw), expected, rtol=1e-5, atol=1e-5)


def test_forecasting_head_shape():
    head = Head("forecasting", 2, horizon=5, target_mean=(0.0, 1.0), target_std=(1.0, 2.0))
    model = cells.build_model(Architecture(variant="layernorm", units=4), (7, 3), head)
    assert _predict(model, X).shape == (4, 5, 2)


def test_a_partly_missing_step_is_imputed_not_masked():
    model = cells.build_model(Architecture(variant="mgu", units=4), (7, 3), CLASSIFY)
    standardize = model.get_layer("standardize")
    x = X.copy()
    x[0, 2, 1] = np.nan
    values, mask = standardize(x)
    assert bool(np.asarray(mask)[0, 2]) and float(np.asarray(values)[0, 2, 1]) == 0.0


@pytest.mark.parametrize(
    "head, loss, metric",
    [
        (CLASSIFY, "sparse_categorical_crossentropy", "accuracy"),
        (Head("regression", 1), "mse", "mae"),
    ],
)
def test_compile_model_picks_loss_and_metrics(head, loss, metric):
    model = cells.build_model(Architecture(variant="minimal", units=4), (7, 3), head)
    compiled = cells.compile_model(model, head, learning_rate=1e-3)
    assert compiled is model and model.loss == loss
    assert model.optimizer.clipnorm == 1.0
    y = np.array([0, 1, 2, 1]) if head.kind == "classification" else RNG.normal(size=(4, 1))
    logs = model.fit(X, y, epochs=1, verbose=0).history
    assert np.isfinite(logs["loss"][0])
    assert any(metric in key for key in logs)


@pytest.mark.parametrize(
    "attention, bidirectional",
    [("none", False), ("pooling", False), ("luong", False), ("bahdanau", True)],
)
def test_compile_model_turns_xla_on_for_the_attention_wrapper_on_tensorflow(
    attention, bidirectional
):
    arch = Architecture(
        variant="mgu", units=4, attention=attention, attention_units=4, bidirectional=bidirectional
    )
    model = cells.compile_model(cells.build_model(arch, (7, 3), CLASSIFY), CLASSIFY, 1e-3)
    wrapped = attention in ("luong", "bahdanau")
    if keras.backend.backend() == "tensorflow":
        # Keras' "auto" leaves XLA off on a CPU TensorFlow host; the wrapper turns it on.
        assert model.jit_compile is wrapped
    else:
        assert model.jit_compile is True  # "auto" is XLA on JAX anyway
    # An explicit choice wins.
    cells.compile_model(model, CLASSIFY, 1e-3, jit_compile=False)
    assert model.jit_compile is False


@pytest.mark.parametrize(
    "call, message",
    [
        (lambda: cells.build_model(Architecture(), (7,), CLASSIFY), "input_shape must be"),
        (
            lambda: cells.build_model(Architecture(), (7, 3), CLASSIFY, feature_mean=[0.0]),
            "feature_mean must have 3 values",
        ),
        (
            lambda: cells.compile_model(keras.Sequential(), CLASSIFY, learning_rate=0),
            "learning_rate must be a positive number",
        ),
    ],
    ids=["shape", "statistics", "learning-rate"],
)
def test_errors_name_what_to_fix(call, message):
    with pytest.raises(ValueError, match=message):
        call()


def test_the_default_architecture_builds_the_same_layers_and_weights_as_before_the_options():
    # Pinned from the builder before fcn, downsample, ar_highway and revin existed: with them
    # at their defaults a saved search's models rebuild layer for layer, weight for weight.
    forecast = Head("forecasting", 2, horizon=3)
    layouts = {}
    for head in (CLASSIFY, forecast):
        model = cells.build_model(Architecture(), (None, 3), head)
        layers = [(layer.name, type(layer).__name__) for layer in model.layers]
        layouts[head.kind] = layers, [(w.path, tuple(w.shape)) for w in model.weights]
    gru = [
        ("recurrent_0/gru_cell/kernel", (3, 192)),
        ("recurrent_0/gru_cell/recurrent_kernel", (64, 192)),
        ("recurrent_0/gru_cell/bias", (2, 192)),
    ]
    start = [("series", "InputLayer"), ("standardize", "NanPaddingStandardization")]
    assert layouts["classification"] == (
        [*start, ("recurrent_0", "GRU"), ("probabilities", "Dense")],
        [*gru, ("probabilities/kernel", (64, 3)), ("probabilities/bias", (3,))],
    )
    assert layouts["forecasting"] == (
        [
            *start,
            ("recurrent_0", "GRU"),
            ("head", "Dense"),
            ("horizon", "Reshape"),
            ("original_units", "Destandardization"),
        ],
        [*gru, ("head/kernel", (64, 6)), ("head/bias", (6,))],
    )


def test_every_option_at_once_trains_and_ignores_padding():
    keras.utils.set_random_seed(0)
    head = Head("forecasting", 2, horizon=2, target_mean=(1.0, 0.0), target_std=(2.0, 1.0))
    arch = Architecture(
        variant="mgu",
        units=4,
        fcn="se_fcn",
        fcn_filters=4,
        downsample=2,
        frontend_kernel=2,
        ar_highway=3,
        revin=True,
    )
    model = cells.build_model(arch, (None, 3), head, feature_mean=[1.0, 0.0, 0.0])
    x = RNG.normal(size=(8, 6, 3)).astype("float32")
    y = x[:, -2:, :2] * 2.0 + 1.0  # learnable from the last steps
    padded = np.pad(x, ((0, 0), (2, 0), (0, 0)), constant_values=np.nan)
    np.testing.assert_allclose(_predict(model, padded), _predict(model, x), atol=1e-5)
    cells.compile_model(model, head, learning_rate=1e-2)
    losses = model.fit(padded, y, epochs=5, batch_size=8, verbose=0).history["loss"]
    assert losses[-1] < losses[0]


@pytest.mark.parametrize(
    "fields, message",
    [
        ({"fcn": "lstm_fcn"}, "fcn must be one of ('none', 'fcn', 'se_fcn'), but got 'lstm_fcn'."),
        ({"fcn_filters": 0}, "fcn_filters must be a positive integer, but got 0."),
        ({"downsample": 6}, "downsample must be a power of two (1, 2, 4, 8, ...), but got 6."),
        ({"downsample": 0}, "downsample must be a power of two"),
        ({"ar_highway": -1}, "ar_highway must be 0 or a positive integer, but got -1."),
        ({"revin": 1}, "revin must be a bool, but got 1."),
        ({"dimension_shuffle": 1}, "dimension_shuffle must be a bool, but got 1."),
    ],
)
def test_the_new_options_are_validated(fields, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        Architecture(**fields)


def test_dimension_shuffle_feeds_each_channel_whole_as_one_step():
    keras.utils.set_random_seed(0)
    arch = Architecture(units=5, fcn="fcn", fcn_filters=4, dimension_shuffle=True)
    model = cells.build_model(arch, (7, 2), CLASSIFY)
    # Two channels of 7 steps: the GRU runs 2 steps of 7 values; the FCN branch reads time.
    assert model.get_layer("recurrent_0").input.shape == (None, 2, 7)
    assert model.get_layer("fcn").input[0].shape == (None, 7, 2)
    # The GRU's summary is the GRU over the transposed standardised series.
    x = RNG.normal(size=(3, 7, 2)).astype("float32")
    summary = keras.Model(model.input, model.get_layer("recurrent_0").output)
    gru = model.get_layer("recurrent_0")
    expected = gru(np.transpose(np.asarray(model.get_layer("standardize")(x)[0]), (0, 2, 1)))
    np.testing.assert_allclose(summary(x), expected, atol=1e-5)
    # A univariate series is one step for the recurrent stack, and it still trains.
    univariate = cells.build_model(Architecture(units=4, dimension_shuffle=True), (9, 1), CLASSIFY)
    assert univariate.get_layer("recurrent_0").input.shape == (None, 1, 9)
    cells.compile_model(univariate, CLASSIFY, learning_rate=1e-2)
    x1, y1 = RNG.normal(size=(12, 9, 1)).astype("float32"), np.arange(12) % 3
    losses = univariate.fit(x1, y1, epochs=5, batch_size=12, verbose=0).history["loss"]
    assert losses[-1] < losses[0]


def test_dimension_shuffle_needs_series_of_one_length():
    with pytest.raises(ValueError, match="dimension_shuffle .* needs series of one length"):
        cells.build_model(Architecture(dimension_shuffle=True), (None, 3), CLASSIFY)


def test_dimension_shuffle_transposes_what_reaches_the_stack():
    # After downsampling (units channels, for a plain cell) and for a conv cell, whose spatial
    # axis becomes the (downsampled) time axis.
    arch = Architecture(units=6, downsample=2, frontend_kernel=2, dimension_shuffle=True)
    model = cells.build_model(arch, (9, 2), CLASSIFY)
    assert model.get_layer("recurrent_0").input.shape == (None, 6, 5)
    conv = Architecture(variant="convgru", units=4, downsample=2, dimension_shuffle=True)
    model = cells.build_model(conv, (9, 2), CLASSIFY)
    assert model.get_layer("feature_map_0").output.shape == (None, 2, 5, 1)
    cells.compile_model(model, CLASSIFY, learning_rate=1e-2)
    x = RNG.normal(size=(6, 9, 2)).astype("float32")
    assert np.isfinite(model.fit(x, np.arange(6) % 3, epochs=1, verbose=0).history["loss"][0])


def test_compile_model_decays_the_rate_on_a_cosine_to_zero():
    model = cells.build_model(Architecture(variant="minimal", units=4), (7, 3), CLASSIFY)
    cells.compile_model(model, CLASSIFY, learning_rate=1e-3, decay_steps=10)
    y = np.array([0, 1, 2, 1])
    rates = [float(model.optimizer.learning_rate)]
    for _ in range(3):  # one batch per epoch: 5, 10, then 15 updates
        model.fit(X, y, batch_size=len(X), epochs=5, verbose=0)
        rates.append(float(model.optimizer.learning_rate))
    # lr * (1 + cos(pi * step / 10)) / 2, and 0 after the last step.
    np.testing.assert_allclose(rates, [1e-3, 0.5e-3, 0.0, 0.0], atol=1e-9)
    with pytest.raises(ValueError, match="decay_steps must be a positive integer"):
        cells.compile_model(model, CLASSIFY, learning_rate=1e-3, decay_steps=0)
