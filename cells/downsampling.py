"""Strided convolutions that shorten a long series before the recurrent stack.

`cells.build_model` puts `Downsampling` in front of the recurrent layers when
`Architecture.downsample` > 1: a recurrent layer's cost and its gradient path grow with the
number of steps, a convolution's do not.
"""

from __future__ import annotations

import math

import keras
from keras import ops

from cells.fcn import BATCH_NORM_MOMENTUM
from cells.masking import all_valid, zero_padding


def halve_mask(mask):
    """(batch, steps) -> (batch, ceil(steps / 2)): step i is valid if step 2i or 2i + 1 is."""
    steps = ops.expand_dims(ops.cast(mask, "float32"), -1)  # (batch, steps, 1)
    pooled = ops.max_pool(steps, pool_size=2, strides=2, padding="same")  # (batch, ceil, 1)
    return ops.squeeze(pooled, -1) > 0.5


@keras.saving.register_keras_serializable(package="cells", name="Downsampling")
class Downsampling(keras.layers.Layer):
    """Divides the number of steps by `factor` = 2^k with k strided convolution blocks.

    The front end of Deep Speech 2 (Amodei et al. 2016, arXiv:1512.02595): convolutions with
    a stride in time before the recurrent layers, so these see fewer steps. For x (batch, T, D)
    and a (batch, T) mask m:

        h^0 = x,  m^0 = m
        h^j = ReLU(BN(Conv1D(h^(j-1))))       j = 1..k: `filters` filters, kernel 3, stride 2,
                                              "same" padding: ceil(T_(j-1) / 2) steps
        m^j_i = m^(j-1)_2i or m^(j-1)_(2i+1)  a step is valid if any step it summarises is
        h^j = 0 where m^j is False            as the convolution's padding beyond the ends

    `call` returns (h^k, m^k), (batch, ceil(T / factor), filters) and (batch, ceil(T / factor)).
    Batch norm's training statistics count only the valid steps. Padding a series by a
    multiple of `factor` steps (before or after) leaves the valid steps' output unchanged.
    """

    def __init__(self, factor: int, filters: int, **kwargs):
        super().__init__(**kwargs)
        ok = isinstance(factor, int) and not isinstance(factor, bool) and factor >= 1
        if not (ok and factor & (factor - 1) == 0):
            raise ValueError(
                f"Downsampling `factor` must be a power of two (1, 2, 4, ...), but got {factor!r}."
            )
        if not isinstance(filters, int) or isinstance(filters, bool) or filters < 1:
            raise ValueError(
                f"Downsampling needs a positive integer `filters`, but got {filters!r}."
            )
        self.factor = factor
        self.filters = filters
        blocks = factor.bit_length() - 1  # k = log2(factor)
        self.convs = [
            keras.layers.Conv1D(
                filters, 3, strides=2, padding="same", kernel_initializer="he_uniform"
            )
            for _ in range(blocks)
        ]
        self.norms = [
            keras.layers.BatchNormalization(momentum=BATCH_NORM_MOMENTUM) for _ in range(blocks)
        ]
        self.supports_masking = True

    def build(self, input_shape):
        shape = tuple(input_shape)
        for conv, norm in zip(self.convs, self.norms, strict=True):
            conv.build(shape)
            shape = conv.compute_output_shape(shape)
            norm.build(shape)

    def call(self, inputs, mask=None, training=None):
        mask = all_valid(inputs) if mask is None else ops.cast(mask, "bool")
        h = zero_padding(inputs, mask)  # (batch, T, D)
        for conv, norm in zip(self.convs, self.norms, strict=True):
            mask = halve_mask(mask)  # (batch, T_j)
            h = ops.relu(norm(conv(h), training=training, mask=mask))  # (batch, T_j, filters)
            h = zero_padding(h, mask)
        return h, mask

    def _steps(self, steps):
        return None if steps is None else math.ceil(steps / self.factor)

    def compute_output_spec(self, inputs, mask=None, training=None):
        batch, steps = inputs.shape[0], self._steps(inputs.shape[1])
        return (
            keras.KerasTensor((batch, steps, self.filters), dtype=self.compute_dtype),
            keras.KerasTensor((batch, steps), dtype="bool"),
        )

    def compute_mask(self, inputs, mask=None):
        return None  # the downsampled mask is the second output

    def get_config(self):
        return {**super().get_config(), "factor": self.factor, "filters": self.filters}
