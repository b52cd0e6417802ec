"""Attention layers as Keras layers: config round trip, `.keras` save/load, training, masking,
Bidirectional, and the errors a user sees."""

from __future__ import annotations

import keras
import numpy as np
import pytest

import cells.attention as attention_module
from cells.attention import AttentionPooling, AttentionRNN, BahdanauAttention, LuongAttention
from cells.mgu import MGUCell

STEPS, FEATURES = 7, 3


def as_numpy(x):
    return keras.ops.convert_to_numpy(x)


def data(seed=0, batch=8):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(batch, STEPS, FEATURES)).astype("float32")
    lengths = rng.integers(3, STEPS + 1, size=batch)
    mask = np.arange(STEPS)[None, :] < lengths[:, None]
    x[~mask] = 0.0  # the Masking layer's padding value
    y = (x.sum(axis=(1, 2)) > 0).astype("float32")[:, None]
    return x, y


LAYERS = {
    "bahdanau": lambda: AttentionRNN(
        keras.layers.GRUCell(6), BahdanauAttention(5, normalize=True), attention_layer_size=4
    ),
    "luong": lambda: AttentionRNN(
        keras.layers.GRUCell(6), LuongAttention(scale=True), output_attention=False
    ),
    "mgu_sequences": lambda: AttentionRNN(
        MGUCell(6), BahdanauAttention(5), attention_layer_size=4, return_sequences=True
    ),
    "bidirectional": lambda: keras.layers.Bidirectional(
        AttentionRNN(keras.layers.GRUCell(6), LuongAttention(), attention_layer_size=4)
    ),
    "pooling_additive": lambda: AttentionPooling("additive", units=5),
    "pooling_dot": lambda: AttentionPooling("dot"),
}


def small_model(name):
    inputs = keras.Input((STEPS, FEATURES))
    hidden = keras.layers.Masking(0.0)(inputs)
    if name.startswith("pooling"):
        hidden = keras.layers.GRU(6, return_sequences=True)(hidden)
    hidden = LAYERS[name]()(hidden)
    if len(hidden.shape) == 3:
        hidden = keras.layers.GlobalAveragePooling1D()(hidden)
    return keras.Model(inputs, keras.layers.Dense(1, activation="sigmoid")(hidden))


def test_public_names_are_pinned():
    assert attention_module.__all__ == [
        "AttentionPooling",
        "AttentionRNN",
        "BahdanauAttention",
        "LuongAttention",
        "masked_softmax",
    ]


@pytest.mark.slow
@pytest.mark.parametrize("name", LAYERS)
def test_saved_model_reloads_with_the_same_predictions(name, tmp_path):
    x, _ = data()
    model = small_model(name)
    expected = model.predict(x, verbose=0)
    path = tmp_path / f"{name}.keras"
    model.save(path)
    loaded = keras.saving.load_model(path)
    np.testing.assert_allclose(loaded.predict(x, verbose=0), expected, atol=1e-6)


@pytest.mark.slow
@pytest.mark.parametrize("name", ["bahdanau", "luong", "pooling_additive"])
def test_a_few_training_steps_lower_the_loss(name):
    keras.utils.set_random_seed(0)
    x, y = data(seed=1, batch=32)
    model = small_model(name)
    model.compile(keras.optimizers.Adam(0.02), "binary_crossentropy")
    before = model.evaluate(x, y, verbose=0)
    model.fit(x, y, epochs=15, batch_size=32, verbose=0)
    assert model.evaluate(x, y, verbose=0) < 0.8 * before


@pytest.mark.slow
def test_wrapped_cell_dropout_trains_on_every_backend():
    # The cell's dropout masks are drawn before the loop (JAX cannot carry them out of it).
    keras.utils.set_random_seed(0)
    x, y = data(seed=2, batch=16)
    inputs = keras.Input((STEPS, FEATURES))
    cell = keras.layers.GRUCell(4, dropout=0.3, recurrent_dropout=0.3)
    hidden = AttentionRNN(cell, BahdanauAttention(3))(inputs)
    model = keras.Model(inputs, keras.layers.Dense(1)(hidden))
    model.compile("adam", "mse")
    history = model.fit(x, y, epochs=2, verbose=0)
    assert np.all(np.isfinite(history.history["loss"]))


@pytest.mark.parametrize(
    "layer",
    [
        BahdanauAttention(5, normalize=True),
        LuongAttention(None, scale=True),
        AttentionPooling("dot", units=3, return_alignments=True),
        AttentionRNN(
            keras.layers.GRUCell(4),
            BahdanauAttention(3),
            attention_layer_size=2,
            output_attention=False,
            attention_activation=None,
            return_alignments=True,
            return_sequences=True,
            go_backwards=True,
        ),
    ],
    ids=lambda layer: type(layer).__name__,
)
def test_get_config_round_trips(layer):
    config = layer.get_config()
    clone = type(layer).from_config(config)
    assert clone.get_config() == config
    registered = keras.saving.get_registered_name(type(layer))
    assert registered == f"cells>{type(layer).__name__}"


def test_wrapper_clone_from_config_computes_the_same_function():
    x, _ = data(seed=3)
    layer = AttentionRNN(keras.layers.GRUCell(4), LuongAttention(), attention_layer_size=3)
    expected = as_numpy(layer(x))
    clone = AttentionRNN.from_config(layer.get_config())
    clone(x)
    clone.set_weights(layer.get_weights())
    np.testing.assert_allclose(as_numpy(clone(x)), expected, atol=1e-6)


# ---- masking -------------------------------------------------------------------------------


@pytest.mark.parametrize("mechanism", [BahdanauAttention(4), LuongAttention()], ids=["b", "l"])
def test_padded_steps_are_neither_attended_nor_advance_the_state(mechanism):
    rng = np.random.default_rng(4)
    short = rng.normal(size=(1, 4, FEATURES)).astype("float32")
    layer = AttentionRNN(keras.layers.GRUCell(5), mechanism, attention_layer_size=3)
    alone = as_numpy(layer(short))
    for padding in ("post", "pre"):
        junk = rng.normal(size=(1, 3, FEATURES)).astype("float32") * 50
        padded = np.concatenate([short, junk] if padding == "post" else [junk, short], axis=1)
        mask = np.ones((1, 7), bool)
        if padding == "post":
            mask[0, 4:] = False
        else:
            mask[0, :3] = False
        np.testing.assert_allclose(as_numpy(layer(padded, mask=mask)), alone, atol=1e-5)


def test_padded_steps_output_zeros_and_zero_alignment_rows():
    x, _ = data(seed=5)
    mask = np.abs(x).sum(-1) > 0
    layer = AttentionRNN(
        keras.layers.GRUCell(5), BahdanauAttention(4), return_sequences=True, return_alignments=True
    )
    outputs, alignments = (as_numpy(t) for t in layer(x, mask=mask))
    assert np.all(outputs[~mask] == 0.0)
    assert np.all(alignments[~mask] == 0.0)
    assert np.all(alignments.transpose(0, 2, 1)[~mask] == 0.0)  # padded memory columns
    np.testing.assert_allclose(alignments[mask].sum(-1), 1.0, rtol=1e-5)


def test_output_mask_follows_return_sequences():
    inputs = keras.Input((STEPS, FEATURES))
    masked = keras.layers.Masking(0.0)(inputs)
    cell = keras.layers.GRUCell(4)
    sequence = AttentionRNN(cell, LuongAttention(), return_sequences=True)(masked)
    assert sequence._keras_mask is not None
    last = AttentionRNN(keras.layers.GRUCell(4), LuongAttention())(masked)
    assert getattr(last, "_keras_mask", None) is None


def test_pooling_ignores_the_values_of_padded_steps():
    x, _ = data(seed=6)
    mask = np.abs(x).sum(-1) > 0
    for score in ("additive", "dot"):
        layer = AttentionPooling(score, units=4)
        expected = as_numpy(layer(x, mask=mask))
        changed = np.where(mask[..., None], x, np.float32(1e3))
        np.testing.assert_allclose(as_numpy(layer(changed, mask=mask)), expected, atol=1e-6)
        changed[~mask] = np.nan
        np.testing.assert_allclose(as_numpy(layer(changed, mask=mask)), expected, atol=1e-6)


# ---- Bidirectional -------------------------------------------------------------------------


def test_go_backwards_equals_forwards_on_the_reversed_sequence():
    # Attention sums over the memory, so reversing the memory changes nothing: the backward
    # layer is the forward one run on the reversed steps.
    x, _ = data(seed=7)
    forwards = AttentionRNN(keras.layers.GRUCell(4), BahdanauAttention(3), return_sequences=True)
    expected = as_numpy(forwards(x[:, ::-1].copy()))
    backwards = AttentionRNN.from_config({**forwards.get_config(), "go_backwards": True})
    backwards(x)
    backwards.set_weights(forwards.get_weights())
    np.testing.assert_allclose(as_numpy(backwards(x)), expected, atol=1e-5)


def test_bidirectional_shapes():
    x, _ = data(seed=8)
    layer = keras.layers.Bidirectional(
        AttentionRNN(keras.layers.GRUCell(4), LuongAttention(), attention_layer_size=3),
        merge_mode="concat",
    )
    assert layer(x).shape == (8, 6)
    sequences = keras.layers.Bidirectional(
        AttentionRNN(keras.layers.GRUCell(4), LuongAttention(), return_sequences=True)
    )
    assert sequences(x).shape == (8, STEPS, 2 * FEATURES)


# ---- errors --------------------------------------------------------------------------------


def test_errors_name_what_to_fix():
    cell = keras.layers.GRUCell(3)
    with pytest.raises(ValueError, match="needs a BahdanauAttention or LuongAttention"):
        AttentionRNN(cell, keras.layers.Dense(3))
    with pytest.raises(ValueError, match="needs an RNN cell with a `state_size`"):
        AttentionRNN(keras.layers.Dense(3), LuongAttention())
    with pytest.raises(ValueError, match="`attention_layer_size` must be None or a positive"):
        AttentionRNN(cell, LuongAttention(), attention_layer_size=0)
    with pytest.raises(ValueError, match="neither stateful=True nor return_state=True"):
        AttentionRNN(cell, LuongAttention(), return_state=True)
    with pytest.raises(
        ValueError, match="must be one of \\('additive', 'dot'\\), but got 'cosine'"
    ):
        AttentionPooling("cosine")
    with pytest.raises(ValueError, match="needs a positive integer `units`, but got 0"):
        BahdanauAttention(0)


def _gradients(function, *args):
    """d sum(function(*args)) / d args, on whichever backend Keras runs."""
    args = [keras.ops.convert_to_tensor(a) for a in args]
    if keras.backend.backend() == "jax":
        import jax

        return jax.grad(lambda *a: function(*a).sum(), argnums=tuple(range(len(args))))(*args)
    import tensorflow as tf

    with tf.GradientTape() as tape:
        tape.watch(args)
        total = tf.reduce_sum(function(*args))
    return tape.gradient(total, args)


def test_recomputed_additive_score_has_the_exact_gradient():
    # The additive score is recomputed in the backward pass (keras.remat) rather than stored:
    # its value and its gradients must be those of v^T tanh(k + p), here against NumPy.
    from cells.attention_mechanisms import _additive_scores_remat

    rng = np.random.default_rng(3)
    keys = rng.normal(size=(2, 5, 4)).astype("float32")  # (batch, T, units)
    processed = rng.normal(size=(2, 1, 4)).astype("float32")  # (batch, 1, units)
    v = rng.normal(size=(4, 1)).astype("float32")
    weights = rng.normal(size=(2, 5)).astype("float32")  # random upstream gradient

    t = np.tanh(keys + processed)
    np.testing.assert_allclose(
        as_numpy(_additive_scores_remat(keys, processed, v)), (t @ v)[..., 0], rtol=1e-5, atol=1e-6
    )
    grads = _gradients(
        lambda k, p, w: _additive_scores_remat(k, p, w) * weights, keys, processed, v
    )
    d_pre = weights[..., None] * v[:, 0] * (1.0 - t**2)  # (batch, T, units)
    expected = (
        d_pre,
        d_pre.sum(axis=1, keepdims=True),
        np.einsum("bt,btu->u", weights, t)[:, None],
    )
    for got, want in zip(grads, expected, strict=True):
        np.testing.assert_allclose(as_numpy(got), want, rtol=1e-5, atol=1e-6)
