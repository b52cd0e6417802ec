"""Attention numerics against independent NumPy implementations, with seeded random weights.

The references below are written from the papers' equations (see the docstrings in
cells/attention_*.py), on float64, one query at a time; the layers run in float32.
"""

from __future__ import annotations

import keras
import numpy as np
import pytest

from cells.attention import AttentionPooling, AttentionRNN, BahdanauAttention, LuongAttention
from tests.cells.cases import CASE_IDS, CASES

TOL = {"rtol": 1e-5, "atol": 1e-5}


# ---- NumPy references ------------------------------------------------------------------


def sigmoid(x):
    return 1.0 / (1.0 + np.exp(-x))


def masked_softmax(scores, mask):
    scores = np.where(mask, scores, -np.inf)
    peak = np.max(np.where(mask, scores, -1e300), axis=-1, keepdims=True)
    weights = np.where(mask, np.exp(scores - peak), 0.0)
    total = weights.sum(axis=-1, keepdims=True)
    return np.divide(weights, total, out=np.zeros_like(weights), where=total > 0)


def bahdanau_scores(query, memory, w, normalize):
    """e_j = v^T tanh(W_q q + W_m m_j), or g v^T/||v|| tanh(W_q q + W_m m_j + b)."""
    v = w["attention_v"]
    bias = 0.0
    if normalize:
        v = w["attention_g"] * v / np.linalg.norm(v)
        bias = w["attention_b"]
    hidden = np.tanh(query[:, None, :] @ w["query_kernel"] + memory @ w["memory_kernel"] + bias)
    return hidden @ v  # (batch, T)


def luong_scores(query, memory, w, scale):
    """e_j = q^T W m_j, times g when scaled."""
    keys = memory @ w["memory_kernel"]  # (batch, T, Q)
    scores = np.einsum("bq,btq->bt", query, keys)
    return w["attention_g"] * scores if scale else scores


def keras_gru_step(x, h, w):
    """keras.layers.GRUCell (reset_after=True): gate order [z, r, h], two bias rows."""
    n = h.shape[-1]
    a = x @ w["kernel"] + w["bias"][0]
    c = h @ w["recurrent_kernel"] + w["bias"][1]
    z = sigmoid(a[:, :n] + c[:, :n])
    r = sigmoid(a[:, n : 2 * n] + c[:, n : 2 * n])
    candidate = np.tanh(a[:, 2 * n :] + r * c[:, 2 * n :])
    return z * h + (1.0 - z) * candidate


def concat_attention(x_t, attention):
    """The cell input [x_t; a_{t-1}]; for (batch, length, channels) steps a is extra channels."""
    if x_t.ndim == 3:
        attention = np.broadcast_to(attention[:, None, :], (*x_t.shape[:2], attention.shape[-1]))
    return np.concatenate([x_t, attention], -1)


def attention_wrapper_reference(
    x, mask, cell_step, units, score_fn, attention_kernel, output_attention
):
    """TFA AttentionWrapper over the sequence x, memory = x (steps flattened), tanh layer."""
    batch, steps = x.shape[:2]
    memory = np.where(mask[..., None], x.reshape(batch, steps, -1), 0.0)
    depth = memory.shape[-1]
    h = np.zeros((batch, units))
    attention = np.zeros((batch, depth if attention_kernel is None else attention_kernel.shape[1]))
    last = np.zeros((batch, attention.shape[1] if output_attention else units))
    outputs, history = [], []
    for t in range(steps):
        keep = mask[:, t : t + 1]
        h_new = cell_step(concat_attention(x[:, t], attention), h)
        alignments = masked_softmax(score_fn(h_new, memory), mask)
        context = np.einsum("bt,btd->bd", alignments, memory)
        if attention_kernel is None:
            attention_new = context
        else:
            attention_new = np.tanh(np.concatenate([h_new, context], -1) @ attention_kernel)
        y = attention_new if output_attention else h_new
        h, attention = np.where(keep, h_new, h), np.where(keep, attention_new, attention)
        last = np.where(keep, y, last)
        outputs.append(np.where(keep, y, 0.0))
        history.append(np.where(keep, alignments, 0.0))
    return last, np.stack(outputs, 1), np.stack(history, 1)


# ---- helpers ---------------------------------------------------------------------------


def randomize(layer, seed):
    """Seeded random values for every weight (constant weights hide swapped terms)."""
    rng = np.random.default_rng(seed)
    layer.set_weights([rng.normal(0.0, 0.5, size=w.shape) for w in layer.get_weights()])


def weights_by_name(layer):
    return {w.name: keras.ops.convert_to_numpy(w).astype("float64") for w in layer.weights}


def padded_batch(seed, batch=3, steps=6, depth=4):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(batch, steps, depth)).astype("float32")
    mask = np.ones((batch, steps), dtype=bool)
    mask[1, 4:] = False  # post-padding
    mask[2, :2] = False  # pre-padding
    x[~mask] = 99.0  # junk where padded: it must not matter
    return x, mask


MECHANISMS = {
    "bahdanau": lambda q: BahdanauAttention(5),
    "bahdanau_normalized": lambda q: BahdanauAttention(5, normalize=True),
    "luong": lambda q: LuongAttention(q),
    "luong_scaled": lambda q: LuongAttention(q, scale=True),
}


def reference_scores(name, mechanism):
    w = weights_by_name(mechanism)
    if name.startswith("bahdanau"):
        return lambda q, m: bahdanau_scores(q, m, w, normalize=mechanism.normalize)
    return lambda q, m: luong_scores(q, m, w, scale=mechanism.scale)


# ---- mechanisms --------------------------------------------------------------------------


@pytest.mark.parametrize("name", MECHANISMS)
@pytest.mark.parametrize("query_depth", [3, 7], ids=["query_narrower", "query_wider"])
def test_mechanism_scores_alignments_and_context_match_numpy(name, query_depth):
    # query_wider exercises Luong's projected-query path (memory depth 4 < 7).
    memory, mask = padded_batch(seed=1)
    query = np.random.default_rng(2).normal(size=(3, query_depth)).astype("float32")
    mechanism = MECHANISMS[name](query_depth)
    mechanism(query, memory, mask=mask)  # builds
    randomize(mechanism, seed=3)

    context, alignments = mechanism(query, memory, mask=mask)

    clean = np.where(mask[..., None], memory, 0.0).astype("float64")
    scores = reference_scores(name, mechanism)(query.astype("float64"), clean)
    expected = masked_softmax(scores, mask)
    prepared = mechanism.prepare_memory(np.where(mask[..., None], memory, 0.0), mask)
    np.testing.assert_allclose(
        keras.ops.convert_to_numpy(mechanism.score(query, prepared)), scores, **TOL
    )
    np.testing.assert_allclose(keras.ops.convert_to_numpy(alignments), expected, **TOL)
    np.testing.assert_allclose(
        keras.ops.convert_to_numpy(context), np.einsum("bt,btd->bd", expected, clean), **TOL
    )
    alignments = keras.ops.convert_to_numpy(alignments)
    assert np.all(alignments[~mask] == 0.0)
    np.testing.assert_allclose(alignments.sum(-1), 1.0, rtol=1e-6)


def test_normalized_bahdanau_starts_from_tfa_initial_values():
    mechanism = BahdanauAttention(16, normalize=True)
    mechanism.build((None, 3), (None, 5, 4))
    assert float(keras.ops.convert_to_numpy(mechanism.attention_g)) == pytest.approx(0.25)
    assert np.all(keras.ops.convert_to_numpy(mechanism.attention_b) == 0.0)


def test_fully_padded_memory_gives_zero_alignments_not_nan():
    mechanism = LuongAttention(3)
    memory = np.ones((2, 4, 3), "float32")
    mask = np.array([[False] * 4, [True, True, False, False]])
    context, alignments = mechanism(np.ones((2, 3), "float32"), memory, mask=mask)
    alignments = keras.ops.convert_to_numpy(alignments)
    np.testing.assert_array_equal(alignments[0], 0.0)
    np.testing.assert_allclose(alignments[1], [0.5, 0.5, 0.0, 0.0], rtol=1e-6)
    assert np.all(np.isfinite(keras.ops.convert_to_numpy(context)))


def test_luong_rejects_units_that_differ_from_the_query_depth():
    with pytest.raises(ValueError, match=r"units=5 and query depth 3; pass units=3 or units=None"):
        LuongAttention(5).build((None, 3), (None, 4, 2))


# ---- the wrapper, step by step -----------------------------------------------------------


@pytest.mark.parametrize("name", MECHANISMS)
@pytest.mark.parametrize(
    "attention_layer_size,output_attention", [(6, True), (None, True), (6, False)]
)
def test_attention_rnn_sequence_matches_numpy(name, attention_layer_size, output_attention):
    x, mask = padded_batch(seed=4)
    units = 5
    layer = AttentionRNN(
        keras.layers.GRUCell(units),
        MECHANISMS[name](units),
        attention_layer_size=attention_layer_size,
        output_attention=output_attention,
        return_sequences=True,
        return_alignments=True,
    )
    layer(x, mask=mask)  # builds
    randomize(layer, seed=5)

    outputs, alignments = layer(x, mask=mask)
    last = layer.__class__.from_config({**layer.get_config(), "return_sequences": False})
    last(x, mask=mask)
    last.set_weights(layer.get_weights())

    cell_w = weights_by_name(layer.cell)
    ref_last, ref_outputs, ref_history = attention_wrapper_reference(
        x.astype("float64"),
        mask,
        lambda x_t, h: keras_gru_step(x_t, h, cell_w),
        units,
        reference_scores(name, layer.attention_mechanism),
        None if attention_layer_size is None else weights_by_name(layer)["attention_kernel"],
        output_attention,
    )
    np.testing.assert_allclose(keras.ops.convert_to_numpy(outputs), ref_outputs, **TOL)
    np.testing.assert_allclose(keras.ops.convert_to_numpy(alignments), ref_history, **TOL)
    np.testing.assert_allclose(keras.ops.convert_to_numpy(last(x, mask=mask)[0]), ref_last, **TOL)


@pytest.mark.parametrize("case", CASES, ids=CASE_IDS)
def test_attention_rnn_wraps_every_custom_cell(case):
    # The package's own cells (helper cases: MinimalRNN, MGU, LayerNormGRU, ConvGRU1D), each
    # against its own NumPy step inside the wrapper's NumPy reference.
    rng = np.random.default_rng(10)
    x = rng.normal(size=(3, 6, *case.step_shape)).astype("float32")
    mask = np.ones((3, 6), dtype=bool)
    mask[1, 4:] = mask[2, :1] = False
    layer = AttentionRNN(
        case.make(), BahdanauAttention(4), attention_layer_size=3, return_sequences=True
    )
    layer(x, mask=mask)
    randomize(layer, seed=11)
    cell_w = weights_by_name(layer.cell)
    _, expected, _ = attention_wrapper_reference(
        x.astype("float64"),
        mask,
        lambda x_t, h: case.reference(x_t, h, cell_w),
        layer.cell.output_size,
        reference_scores("bahdanau", layer.attention_mechanism),
        weights_by_name(layer)["attention_kernel"],
        output_attention=True,
    )
    np.testing.assert_allclose(keras.ops.convert_to_numpy(layer(x, mask=mask)), expected, **TOL)


def test_linear_attention_layer_reproduces_tfa_exactly():
    # TFA's attention layer is Dense(use_bias=False) with no activation.
    x, mask = padded_batch(seed=6)
    layer = AttentionRNN(
        keras.layers.GRUCell(4), LuongAttention(), attention_layer_size=3, attention_activation=None
    )
    layer(x, mask=mask)
    randomize(layer, seed=7)
    cell_w, w = weights_by_name(layer.cell), weights_by_name(layer)
    mech_w = weights_by_name(layer.attention_mechanism)
    memory = np.where(mask[..., None], x, 0.0).astype("float64")
    h, attention = np.zeros((3, 4)), np.zeros((3, 3))
    for t in range(x.shape[1]):
        keep = mask[:, t : t + 1]
        h_new = keras_gru_step(np.concatenate([x[:, t], attention], -1), h, cell_w)
        alignments = masked_softmax(luong_scores(h_new, memory, mech_w, scale=False), mask)
        context = np.einsum("bt,btd->bd", alignments, memory)
        attention_new = np.concatenate([h_new, context], -1) @ w["attention_kernel"]
        h, attention = np.where(keep, h_new, h), np.where(keep, attention_new, attention)
    np.testing.assert_allclose(keras.ops.convert_to_numpy(layer(x, mask=mask)), attention, **TOL)


# ---- pooling -----------------------------------------------------------------------------


@pytest.mark.parametrize("score", ["additive", "dot"])
def test_attention_pooling_matches_numpy(score):
    x, mask = padded_batch(seed=8)
    layer = AttentionPooling(score=score, units=5, return_alignments=True)
    layer(x, mask=mask)
    randomize(layer, seed=9)
    pooled, alignments = layer(x, mask=mask)

    w = weights_by_name(layer)
    clean = np.where(mask[..., None], x, 0.0).astype("float64")
    if score == "additive":
        scores = np.tanh(clean @ w["kernel"] + w["bias"]) @ w["attention_v"]
    else:
        scores = clean @ w["query"] / np.sqrt(x.shape[-1])
    expected = masked_softmax(scores, mask)
    np.testing.assert_allclose(keras.ops.convert_to_numpy(alignments), expected, **TOL)
    np.testing.assert_allclose(
        keras.ops.convert_to_numpy(pooled), np.einsum("bt,btd->bd", expected, clean), **TOL
    )
