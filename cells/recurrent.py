"""Which Keras layer each `Architecture.variant` becomes."""

from __future__ import annotations

import math

import keras

from cells.architecture import Architecture
from cells.conv_gru import ConvGRU1DCell
from cells.hoisted import HoistedRNN
from cells.layernorm_gru import LayerNormGRUCell
from cells.mgu import MGUCell
from cells.minimal import MinimalRNNCell

CONV_VARIANTS = ("convgru", "sepconvgru")


def conv_filters(units: int, length: int) -> int:
    """Filters per position that give a conv cell a state of about `units` values per step.

    A conv cell's state is (length, filters), so `units` filters per position would make it
    `length` times wider than every other variant's at the same `units`:
    filters = max(1, ceil(units / length)), a state of length * filters >= units values.
    """
    return max(1, math.ceil(units / length))


def make_cell(arch: Architecture, features: int | None = None) -> keras.layers.Layer:
    """One step of the variant, for `keras.layers.RNN`, `StackedRNNCells` or an attention wrapper.

    `features` is the length of the conv variants' spatial axis (the feature axis), needed for
    convgru/sepconvgru only: their filters are `conv_filters(arch.units, features)`.
    """
    if arch.variant == "gru":
        return keras.layers.GRUCell(arch.units, reset_after=arch.reset_after)
    if arch.variant == "minimal":
        return MinimalRNNCell(arch.units)
    if arch.variant == "mgu":
        return MGUCell(arch.units)
    if arch.variant == "layernorm":
        return LayerNormGRUCell(arch.units, layer_norm=True)
    if arch.variant in CONV_VARIANTS:
        if not isinstance(features, int) or isinstance(features, bool) or features < 1:
            raise ValueError(
                f"Variant {arch.variant!r} needs the number of features (the length of its "
                f"convolution axis) as a positive integer `features`, but got {features!r}."
            )
        return ConvGRU1DCell(
            conv_filters(arch.units, features),
            kernel_size=arch.conv_kernel,
            separable=arch.variant == "sepconvgru",
        )
    raise ValueError(f"Unknown variant {arch.variant!r}; expected one of the cells.VARIANTS.")


def recurrent_layer(
    arch: Architecture, return_sequences: bool, name: str, features: int | None = None
) -> keras.layers.Layer:
    """A whole-sequence layer: the fused `keras.layers.GRU` for `gru`, `HoistedRNN` otherwise.

    `features`: as for `make_cell` (conv variants only)."""
    if arch.variant == "gru":
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
