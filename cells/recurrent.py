"""Which Keras layer each `Architecture.variant` becomes (its declaration: cells.registry)."""

from __future__ import annotations

import keras

from cells.architecture import Architecture
from cells.hoisted import HoistedRNN
from cells.registry import CONV_VARIANTS as CONV_VARIANTS
from cells.registry import get_variant


def make_cell(arch: Architecture, features: int | None = None) -> keras.layers.Layer:
    """One step of the variant, for `keras.layers.RNN`, `StackedRNNCells` or an attention wrapper.

    `features` is the length of the conv variants' spatial axis (the feature axis), needed for
    convolutional variants only: convgru/sepconvgru get `conv_filters(arch.units, features)`
    filters (cells.registry).
    """
    return get_variant(arch.variant).make_cell(arch, features)


def recurrent_layer(
    arch: Architecture, return_sequences: bool, name: str, features: int | None = None
) -> keras.layers.Layer:
    """A whole-sequence layer: the fused `keras.layers.GRU` for a fused variant (`gru`),
    `HoistedRNN` around the cell otherwise.

    `features`: as for `make_cell` (conv variants only)."""
    if get_variant(arch.variant).fused:
        return keras.layers.GRU(
            arch.units, reset_after=arch.reset_after, return_sequences=return_sequences, name=name
        )
    return HoistedRNN(make_cell(arch, features), return_sequences=return_sequences, name=name)


def attention_layer(
    arch: Architecture, return_sequences: bool, name: str, features: int | None = None
) -> keras.layers.Layer:
    """The variant's cell inside the attention wrapper ("bahdanau" or "luong").

    `features`: as for `make_cell` (conv variants only)."""
    from cells.attention import AttentionRNN, BahdanauAttention, LuongAttention

    if arch.attention == "bahdanau":
        mechanism = BahdanauAttention(arch.attention_units)
    else:
        # Luong scores q^T W m without projecting the query: its size is the cell's output size.
        mechanism = LuongAttention()
    return AttentionRNN(
        make_cell(arch, features),
        mechanism,
        attention_layer_size=arch.attention_units,
        return_sequences=return_sequences,
        name=name,
    )


def pooling_layer(arch: Architecture, name: str) -> keras.layers.Layer:
    """Attention pooling over the top layer's sequence, the cheap alternative to the wrapper."""
    from cells.attention import AttentionPooling

    return AttentionPooling(score="additive", units=arch.attention_units, name=name)
