"""Which Keras layer each `Architecture.variant` becomes."""

from __future__ import annotations

import keras

from cells.architecture import Architecture
from cells.conv_gru import ConvGRU1DCell
from cells.hoisted import HoistedRNN
from cells.layernorm_gru import LayerNormGRUCell
from cells.mgu import MGUCell
from cells.minimal import MinimalRNNCell

CONV_VARIANTS = ("convgru", "sepconvgru")


def make_cell(arch: Architecture) -> keras.layers.Layer:
    """One step of the variant, for `keras.layers.RNN`, `StackedRNNCells` or an attention wrapper."""
    if arch.variant == "gru":
        return keras.layers.GRUCell(arch.units, reset_after=arch.reset_after)
    if arch.variant == "minimal":
        return MinimalRNNCell(arch.units)
    if arch.variant == "mgu":
        return MGUCell(arch.units)
    if arch.variant == "layernorm":
        return LayerNormGRUCell(arch.units, layer_norm=True)
    if arch.variant in CONV_VARIANTS:
        # `units` is the number of filters per position along the feature axis.
        return ConvGRU1DCell(
            arch.units, kernel_size=arch.conv_kernel, separable=arch.variant == "sepconvgru"
        )
    raise ValueError(f"Unknown variant {arch.variant!r}; expected one of the cells.VARIANTS.")


def recurrent_layer(arch: Architecture, return_sequences: bool, name: str) -> keras.layers.Layer:
    """A whole-sequence layer: the fused `keras.layers.GRU` for `gru`, `HoistedRNN` otherwise."""
    if arch.variant == "gru":
        return keras.layers.GRU(
            arch.units, reset_after=arch.reset_after, return_sequences=return_sequences, name=name
        )
    return HoistedRNN(make_cell(arch), return_sequences=return_sequences, name=name)


def attention_layer(arch: Architecture, return_sequences: bool, name: str) -> keras.layers.Layer:
    """The variant's cell inside the attention wrapper ("bahdanau" or "luong")."""
    from cells.attention import AttentionRNN, BahdanauAttention, LuongAttention

    if arch.attention == "bahdanau":
        mechanism = BahdanauAttention(arch.attention_units)
    else:
        # Luong scores q^T W m without projecting the query: its size is the cell's output size.
        mechanism = LuongAttention()
    return AttentionRNN(
        make_cell(arch),
        mechanism,
        attention_layer_size=arch.attention_units,
        return_sequences=return_sequences,
        name=name,
    )


def pooling_layer(arch: Architecture, name: str) -> keras.layers.Layer:
    """Attention pooling over the top layer's sequence, the cheap alternative to the wrapper."""
    from cells.attention import AttentionPooling

    return AttentionPooling(score="additive", units=arch.attention_units, name=name)
