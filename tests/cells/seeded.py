"""Seeded random weights for whole layers, and their values as NumPy arrays for a reference."""

from __future__ import annotations

import numpy as np


def randomize_layer(layer, seed: int = 0) -> None:
    """Give every variable of a built layer seeded random values (constants hide mistakes).

    Batch norm variances get values in [0.5, 2] so they stay positive."""
    rng = np.random.default_rng(seed)
    for variable in layer.weights:
        if variable.path.endswith("moving_variance"):
            value = rng.uniform(0.5, 2.0, size=variable.shape)
        else:
            value = rng.normal(0.0, 0.5, size=variable.shape)
        variable.assign(value.astype("float32"))


def arrays(*variables) -> tuple[np.ndarray, ...]:
    return tuple(np.asarray(v, dtype="float64") for v in variables)


def conv_weights(conv):
    return arrays(conv.kernel, conv.bias)


def norm_weights(norm):
    return arrays(norm.gamma, norm.beta, norm.moving_mean, norm.moving_variance)


def pad(series: np.ndarray, steps: int, before: int, fill: float = np.nan) -> np.ndarray:
    """One series (length, channels) placed at `before` in `steps` steps, `fill` elsewhere."""
    out = np.full((steps, series.shape[1]), fill, dtype="float32")
    out[before : before + len(series)] = series
    return out
