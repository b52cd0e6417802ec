"""Time-step masks for the layers that see a whole sequence at once (convolutions, pooling).

A recurrent layer skips a masked step; a convolution reads its neighbours whatever they hold.
These helpers give the convolutional layers the same guarantee: padded steps are zeros, which
is what the convolution's own "same" or "causal" padding puts beyond the ends of the series,
and statistics over time count only the valid steps. Masks are (batch, steps), True where a
step is valid; `None` means every step is.
"""

from __future__ import annotations

from keras import ops


def all_valid(values):
    """A (batch, steps) mask marking every step of `values` (batch, steps, ...) valid."""
    return ops.ones(ops.shape(values)[:2], dtype="bool")


def zero_padding(values, mask):
    """`values` (batch, steps, channels) with the masked steps set to exactly 0."""
    if mask is None:
        return values
    keep = ops.expand_dims(ops.cast(mask, "bool"), -1)  # (batch, steps, 1)
    return ops.where(keep, values, ops.zeros_like(values))


def masked_mean(values, mask, keepdims: bool = False):
    """Mean over the valid steps of `values` (batch, steps, channels): (batch, channels).

    A row with no valid step gets 0 rather than NaN.
    """
    if mask is None:
        return ops.mean(values, axis=1, keepdims=keepdims)
    weights = ops.expand_dims(ops.cast(mask, values.dtype), -1)  # (batch, steps, 1)
    total = ops.sum(zero_padding(values, mask), axis=1, keepdims=keepdims)
    count = ops.sum(weights, axis=1, keepdims=keepdims)  # (batch, 1) or (batch, 1, 1)
    return total / ops.maximum(count, 1.0)
