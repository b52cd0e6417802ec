"""Attention for the recurrent stack: a wrapper around any cell, and a pooling head.

Usage (what `cells.build_model` does for `Architecture.attention`):

    from cells.attention import AttentionPooling, AttentionRNN, BahdanauAttention, LuongAttention

    # "pooling": after a return_sequences=True recurrent stack, (batch, T, H) -> (batch, H).
    x = AttentionPooling(score="additive", units=arch.attention_units)(sequence)

    # "bahdanau" / "luong": a recurrent layer over `x` (batch, T, D) that attends to `x` itself.
    mechanism = BahdanauAttention(arch.attention_units)  # or LuongAttention() (units = query depth)
    x = AttentionRNN(
        cell,                                   # keras.layers.GRUCell(64), MGUCell(64), ...
        mechanism,
        attention_layer_size=arch.attention_units,
        return_sequences=False,                 # True for stacking / forecasting heads
    )(x)                                        # (batch, attention_layer_size)

The input mask (from `keras.layers.Masking` or an upstream layer) is honoured: padded steps
are not attended to and do not advance the state. `AttentionRNN` works inside
`keras.layers.Bidirectional`. Everything here is registered with
`keras.saving.register_keras_serializable(package="cells")`, so `.keras` files reload once
`cells` is imported.

Exact API:

    BahdanauAttention(units, normalize=False)      additive; weight-normalised when normalize
    LuongAttention(units=None, scale=False)        multiplicative; units must equal the cell's
                                                   output size (None: take it from the cell)
    AttentionRNN(cell, attention_mechanism, attention_layer_size=None, output_attention=True,
                 attention_activation="tanh", return_alignments=False, return_sequences=False,
                 go_backwards=False)
        call(sequences (batch, T, D) or (batch, T, length, channels), mask=None, training=None)
        -> (batch, A) or (batch, T, A); A = attention_layer_size, else D (the context), or the
           cell's output size with output_attention=False. return_alignments=True adds
           alignments (batch, T, T): each step's weights over the memory (not under
           Bidirectional). attention_activation=None is TensorFlow Addons' linear layer.
    AttentionPooling(score="additive" | "dot", units=64, return_alignments=False)
        (batch, T, H) -> (batch, H) [, alignments (batch, T)]

Cost: every step scores all T memory steps, so a step costs O(T * units) more than the cell.
Measured on the shared 2-core CPU (TensorFlow, batch 64, 100 steps, 8 features, 64 units,
CPU-time ratios to `keras.layers.GRU`, machine load ~12): Luong 3.5x without XLA, 2.2x with
`jit_compile=True` (which also speeds up the GRU); Bahdanau (units 64) 7-8.5x, since its
(batch, T, units) tanh at every step is ~5x the GRU's arithmetic. `AttentionPooling` after a GRU:
1.2x. Prefer `jit_compile=True` for models with `AttentionRNN` on TensorFlow: Keras' "auto"
leaves XLA off there, and without it the small per-step ops cost more than their arithmetic.

Modules: `cells.attention_mechanisms` (scores), `cells.attention_wrapper` (`AttentionRNN`),
`cells.attention_pooling` (`AttentionPooling`).
"""

from __future__ import annotations

from cells.attention_mechanisms import BahdanauAttention, LuongAttention, masked_softmax
from cells.attention_pooling import AttentionPooling
from cells.attention_wrapper import AttentionRNN

__all__ = [
    "AttentionPooling",
    "AttentionRNN",
    "BahdanauAttention",
    "LuongAttention",
    "masked_softmax",
]
