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
`cells.compile_model` compiles a model holding an `AttentionRNN` with XLA on TensorFlow
(`jit_compile=True`; Keras' "auto" leaves it off there), which fuses the loop's many small
per-step ops. Measured on the shared 2-core CPU (TensorFlow, batch 64, 100 steps, 8 features,
64 units, ratio to `keras.layers.GRU` without XLA, load 4-7; `python benchmarks/cells.py`):
gru+luong 3.1x without XLA, 1.3x with it; gru+bahdanau 6-8x without, 5.4-6x with it (5.2x
with attention_units=32). Bahdanau cannot reach 2x here: its per-step score is a (batch, T,
units) add, tanh and dot with v, 64 * 100 * 64 = 410k tanh per step forward (plus their
backward and the (batch, T, units) gradient the keys accumulate every step), against the
GRU step's 64 * 64 * 192 = 786k multiply-adds; a tanh costs several multiply-adds, so the
score alone is 3-5x the GRU's arithmetic, before the wrapper's own matmuls (the cell's input
projection of [x; a], 64 * 72 * 192, and the attention layer, 64 * 72 * 64). Luong with a
narrow memory scores (W^T q)^T m_j, 64 * 100 * 8 per step. `AttentionPooling` after a GRU:
1.2x.

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
