"""Attention mechanisms: additive (Bahdanau) and multiplicative (Luong) scores over a memory.

A mechanism turns a query (batch, query_depth) and a memory (batch, T, memory_depth) into
alignments (batch, T) that sum to one over the unpadded memory steps. The memory side of
the score (the keys, `W_m m`) does not depend on the query, so `memory_keys` computes it once
for a whole sequence and `alignments` only does the per-query work: the attention wrapper
calls the first outside its time loop and the second inside it.

Semantics follow TensorFlow Addons' `tfa.seq2seq` (`BahdanauAttention`, `LuongAttention`):
keys are a bias-free projection of the memory, padded memory steps get a large negative
score before the softmax, and their alignment is exactly zero.
"""

from __future__ import annotations

import math

import keras
from keras import ops

# Score given to padded memory steps before the softmax. Finite (not -inf) so that a fully
# padded row gives a uniform softmax, which the mask then zeroes, rather than NaN.
_MASKED_SCORE = -1e9


def _additive_scores(keys, processed_query, v):
    # keys (batch, T, units) + processed query (batch, 1, units) -> scores (batch, T)
    return ops.squeeze(ops.matmul(ops.tanh(keys + processed_query), v), -1)


# Recomputed in the backward pass instead of stored: otherwise the loop keeps two
# (batch, T, units) tensors per step for the gradient (the tanh and its derivative), which for
# batch 64, T 100, 64 units is 330 MB written, zero-filled and copied per training step.
# Measured on the 2-core CPU, JAX, gru+bahdanau at that size: 315 -> 127 ms per step.
_additive_scores_remat = keras.remat(_additive_scores)


def masked_softmax(scores, mask=None):
    """Softmax over the last axis that gives exactly zero weight where `mask` is False.

    Computed in float32 so that the large negative fill survives mixed precision.
    """
    scores = ops.cast(scores, "float32")
    if mask is None:
        return ops.softmax(scores, axis=-1)
    mask = ops.cast(mask, "bool")
    weights = ops.softmax(ops.where(mask, scores, _MASKED_SCORE), axis=-1)
    return weights * ops.cast(mask, "float32")


def score_bias(mask, dtype="float32"):
    """0 where `mask` is True, a large negative number where it is False, (batch, T).

    Added to the scores before the softmax, it gives padded steps a weight of exactly zero
    (exp underflows) whenever a row has at least one real step; computed once per sequence,
    it costs one addition per step instead of a select and a multiplication.
    """
    return ops.where(ops.cast(mask, "bool"), 0.0, _MASKED_SCORE) if mask is not None else None


class _AttentionMechanism(keras.layers.Layer):
    """Shared plumbing: the memory is prepared once, then each query is scored against it.

    `prepare_memory(memory, mask)` returns a tuple holding everything that does not depend on
    the query (keys, the padding bias, parameters in the form the score uses);
    `alignments(query, prepared)` is the per-step work. The attention wrapper calls the first
    outside its time loop and the second inside it.
    """

    def __init__(self, units: int | None, **kwargs):
        super().__init__(**kwargs)
        if units is not None and (
            not isinstance(units, int) or isinstance(units, bool) or units < 1
        ):
            raise ValueError(
                f"{type(self).__name__} needs a positive integer `units`, but got {units!r}."
            )
        self.units = units
        self.supports_masking = True

    def prepare_memory(self, memory, mask=None):
        """(score constants..., padding bias): compute once per sequence."""
        return (*self._score_constants(memory), score_bias(mask))

    def _score_constants(self, memory):
        raise NotImplementedError

    def score(self, query, prepared):
        """Unnormalised scores (batch, T) of one query (batch, query_depth)."""
        raise NotImplementedError

    def alignments(self, query, prepared):
        """Attention weights (batch, T): softmax of the scores over the unpadded memory steps."""
        scores = self.score(query, prepared)
        if scores.dtype != "float32":  # the large negative bias needs float32's range
            scores = ops.cast(scores, "float32")
        if prepared[-1] is not None:
            scores = scores + prepared[-1]
        # Written out rather than ops.softmax: TensorFlow's fused CPU kernel took about twice
        # as long on these small (batch, T) rows, and this runs at every step.
        weights = ops.exp(scores - ops.max(scores, axis=-1, keepdims=True))
        weights = weights / ops.sum(weights, axis=-1, keepdims=True)
        return ops.cast(weights, self.compute_dtype)

    def call(self, query, memory, mask=None):
        """Standalone use: returns (context (batch, memory_depth), alignments (batch, T)).

        `mask` is the memory's (batch, T) mask; padded memory values are ignored.
        """
        if mask is not None:
            mask = ops.cast(mask, "bool")
            memory = ops.where(ops.expand_dims(mask, -1), memory, ops.zeros_like(memory))
        weights = self.alignments(query, self.prepare_memory(memory, mask))
        if mask is not None:  # a fully padded row: zeros rather than a uniform softmax
            weights = weights * ops.cast(mask, weights.dtype)
        context = ops.squeeze(ops.matmul(ops.expand_dims(weights, 1), memory), 1)
        return context, weights

    def compute_output_shape(self, query_shape, memory_shape):
        return (query_shape[0], memory_shape[-1]), (query_shape[0], memory_shape[1])

    def compute_mask(self, query, memory, mask=None):
        return None

    def get_config(self):
        return {**super().get_config(), "units": self.units}


@keras.saving.register_keras_serializable(package="cells", name="BahdanauAttention")
class BahdanauAttention(_AttentionMechanism):
    """Additive attention (Bahdanau, Cho and Bengio, "Neural Machine Translation by Jointly
    Learning to Align and Translate", ICLR 2015, arXiv:1409.0473).

    For query q (the cell output) and memory steps m_j:

        k_j     = W_m m_j                                  (keys, computed once)
        e_j     = v^T tanh(W_q q + k_j)                    (normalize=False)
        e_j     = g v^T / ||v|| tanh(W_q q + k_j + b)      (normalize=True)
        alpha   = softmax(e) over the unpadded memory steps

    `normalize=True` is the weight-normalised form of Salimans and Kingma (2016) that TensorFlow
    Addons' `BahdanauAttention(normalize=True)` implements: scalar g starts at sqrt(1 / units),
    bias b at zero. W_q and W_m have no bias, as in TensorFlow Addons.
    """

    def __init__(self, units: int, normalize: bool = False, **kwargs):
        super().__init__(units, **kwargs)
        if units is None:
            raise ValueError("BahdanauAttention needs a positive integer `units`, but got None.")
        self.normalize = bool(normalize)

    def build(self, query_shape, memory_shape):
        u = self.units
        self.query_kernel = self.add_weight(shape=(query_shape[-1], u), name="query_kernel")
        self.memory_kernel = self.add_weight(shape=(memory_shape[-1], u), name="memory_kernel")
        self.attention_v = self.add_weight(shape=(u,), name="attention_v")
        if self.normalize:
            self.attention_g = self.add_weight(
                shape=(),
                name="attention_g",
                initializer=keras.initializers.Constant(math.sqrt(1.0 / u)),
            )
            self.attention_b = self.add_weight(shape=(u,), name="attention_b", initializer="zeros")

    def _score_constants(self, memory):
        keys = ops.matmul(memory, self.memory_kernel)  # (batch, T, units)
        v = self.attention_v
        if self.normalize:
            # Neither the bias nor the normalised v depends on the query: fold them in once.
            keys = keys + self.attention_b
            v = self.attention_g * v * ops.rsqrt(ops.sum(ops.square(v)))
        return keys, ops.expand_dims(v, -1)  # (batch, T, units), (units, 1)

    def score(self, query, prepared):
        keys, v = prepared[0], prepared[1]
        processed = ops.expand_dims(ops.matmul(query, self.query_kernel), 1)  # (batch, 1, units)
        return _additive_scores_remat(keys, processed, v)  # (batch, T)

    def get_config(self):
        return {**super().get_config(), "normalize": self.normalize}


@keras.saving.register_keras_serializable(package="cells", name="LuongAttention")
class LuongAttention(_AttentionMechanism):
    """Multiplicative ("general") attention (Luong, Pham and Manning, "Effective Approaches to
    Attention-based Neural Machine Translation", EMNLP 2015, arXiv:1508.04025).

    For query q (the cell output) and memory steps m_j:

        k_j     = W m_j                 (keys, computed once)
        e_j     = q^T k_j = q^T W m_j   (scale=False)
        e_j     = g q^T W m_j           (scale=True; learned scalar g, starts at 1)
        alpha   = softmax(e) over the unpadded memory steps

    As in TensorFlow Addons the query is not projected, so `units` must equal the query's
    depth (the wrapped cell's output size); `units=None` takes it from the query.

    q^T (W m_j) = (W^T q)^T m_j: when the memory is narrower than the query this layer projects
    the query once per step instead of scoring against (batch, T, units) keys, which is the
    same number but T * units / (depth_m * (T + units)) times less work (about 5x for 8
    features, 64 units and 100 steps).
    """

    def __init__(self, units: int | None = None, scale: bool = False, **kwargs):
        super().__init__(units, **kwargs)
        self.scale = bool(scale)

    def build(self, query_shape, memory_shape):
        depth = query_shape[-1]
        if self.units is not None and self.units != depth:
            raise ValueError(
                f"LuongAttention scores q^T W m without projecting the query, so `units` must "
                f"equal the query depth (the wrapped cell's output size), but got "
                f"units={self.units} and query depth {depth}; pass units={depth} or units=None."
            )
        self.memory_kernel = self.add_weight(shape=(memory_shape[-1], depth), name="memory_kernel")
        self._project_query = memory_shape[-1] < depth
        if self.scale:
            self.attention_g = self.add_weight(shape=(), name="attention_g", initializer="ones")

    def _score_constants(self, memory):
        kernel = self.attention_g * self.memory_kernel if self.scale else self.memory_kernel
        if self._project_query:
            # (batch, T, memory_depth) keys; the kernel goes on the query, (query_depth, depth_m).
            return memory, ops.transpose(kernel)
        return ops.matmul(memory, kernel), None  # (batch, T, query_depth)

    def score(self, query, prepared):
        keys, query_kernel = prepared[0], prepared[1]
        if query_kernel is not None:
            query = ops.matmul(query, query_kernel)  # (batch, memory_depth)
        return ops.einsum("btd,bd->bt", keys, query)  # (batch, T)

    def get_config(self):
        return {**super().get_config(), "scale": self.scale}
