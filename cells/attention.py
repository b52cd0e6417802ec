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
