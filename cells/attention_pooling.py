"""`AttentionPooling`: a learned weighted average of a sequence of hidden states."""

from __future__ import annotations

import math

import keras
from keras import ops

from cells.attention_mechanisms import masked_softmax

SCORES = ("additive", "dot")


@keras.saving.register_keras_serializable(package="cells", name="AttentionPooling")
class AttentionPooling(keras.layers.Layer):
    """Pools (batch, T, H) hidden states to (batch, H) with learned attention weights.

    The cheap alternative to a recurrent attention wrapper: one score per step, computed for
    all steps at once, no loop. With h_t the hidden state at step t:

        e_t = v^T tanh(W h_t + b)      score="additive" (Bahdanau et al. 2015, arXiv:1409.0473,
                                       as used for pooling by Yang et al. 2016, "Hierarchical
                                       Attention Networks", and Raffel and Ellis 2015,
                                       arXiv:1512.08756); W is (H, units)
        e_t = w^T h_t / sqrt(H)        score="dot" (a learned query w, scaled dot product as in
                                       Vaswani et al. 2017); `units` is unused
        alpha = softmax(e) over the unpadded steps
        output = sum_t alpha_t h_t

    Padded steps (mask False) get zero weight, so their values never change the output.
    `return_alignments=True` also returns alpha, (batch, T).
    """

    def __init__(
        self, score: str = "additive", units: int = 64, return_alignments: bool = False, **kwargs
    ):
        super().__init__(**kwargs)
        if score not in SCORES:
            raise ValueError(
                f"AttentionPooling `score` must be one of {SCORES}, but got {score!r}."
            )
        if not isinstance(units, int) or isinstance(units, bool) or units < 1:
            raise ValueError(
                f"AttentionPooling needs a positive integer `units`, but got {units!r}."
            )
        self.score = score
        self.units = units
        self.return_alignments = bool(return_alignments)
        self.supports_masking = True

    def build(self, input_shape):
        depth = input_shape[-1]
        if self.score == "additive":
            self.kernel = self.add_weight(shape=(depth, self.units), name="kernel")
            self.bias = self.add_weight(shape=(self.units,), name="bias", initializer="zeros")
            self.attention_v = self.add_weight(shape=(self.units,), name="attention_v")
        else:
            self.query = self.add_weight(shape=(depth,), name="query")

    def call(self, inputs, mask=None):
        if mask is not None:
            # Zero padded steps so that NaN or junk there cannot leak through 0 * value.
            inputs = ops.where(
                ops.expand_dims(ops.cast(mask, "bool"), -1), inputs, ops.zeros_like(inputs)
            )
        if self.score == "additive":
            hidden = ops.tanh(ops.matmul(inputs, self.kernel) + self.bias)  # (batch, T, units)
            scores = ops.matmul(hidden, self.attention_v)  # (batch, T)
        else:
            scores = ops.matmul(inputs, self.query) / math.sqrt(inputs.shape[-1])  # (batch, T)
        weights = ops.cast(masked_softmax(scores, mask), inputs.dtype)  # (batch, T)
        pooled = ops.squeeze(ops.matmul(ops.expand_dims(weights, 1), inputs), 1)  # (batch, H)
        return (pooled, weights) if self.return_alignments else pooled

    def compute_output_shape(self, input_shape):
        pooled = (input_shape[0], input_shape[-1])
        return (pooled, (input_shape[0], input_shape[1])) if self.return_alignments else pooled

    def compute_mask(self, inputs, mask=None):
        return (None, None) if self.return_alignments else None

    def get_config(self):
        config = {
            "score": self.score,
            "units": self.units,
            "return_alignments": self.return_alignments,
        }
        return {**super().get_config(), **config}
