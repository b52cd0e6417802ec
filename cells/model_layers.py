"""The small layers that make a built model self-contained: padding, scaling, last valid step.

Preprocessing lives inside the model so that a pulled `.keras` file takes raw inputs and answers
in original units. Statistics are stored in the layer config (a few floats per feature), so
they travel with the saved model.
"""

from __future__ import annotations

import keras
import numpy as np
from keras import ops


def _as_vector(values, size: int, default: float, what: str) -> list[float]:
    if values is None:
        return [default] * size
    vector = np.asarray(values, dtype="float64").reshape(-1)
    if vector.shape != (size,):
        raise ValueError(f"{what} must have {size} values, but got shape {np.shape(values)}.")
    if not np.all(np.isfinite(vector)):
        raise ValueError(f"{what} must be finite, but got {vector.tolist()}.")
    return vector.tolist()


def _safe_std(std: list[float]) -> list[float]:
    # A constant feature has std 0: dividing by 1 leaves it centred instead of making inf.
    return [s if s > 0 else 1.0 for s in std]


@keras.saving.register_keras_serializable(package="cells", name="NanPaddingStandardization")
class NanPaddingStandardization(keras.layers.Layer):
    """Standardise raw features and turn NaN padding into a time-step mask.

    Input (batch, steps, features), NaN where a step is padding. Returns `(values, mask)`:
    `values` = (x - mean) / std with every NaN replaced by 0 (the mean, for a single missing
    feature), and `mask` (batch, steps) True where a step has at least one non-NaN feature.
    """

    def __init__(self, mean=None, std=None, num_features: int | None = None, **kwargs):
        super().__init__(**kwargs)
        size = num_features if num_features is not None else len(mean if mean is not None else std)
        self.num_features = int(size)
        self.mean = _as_vector(mean, self.num_features, 0.0, "feature_mean")
        self.std = _safe_std(_as_vector(std, self.num_features, 1.0, "feature_std"))

    def call(self, inputs):
        padded = ops.isnan(inputs)  # (batch, steps, features)
        mask = ops.logical_not(ops.all(padded, axis=-1))  # (batch, steps)
        mean = ops.convert_to_tensor(self.mean, dtype=inputs.dtype)
        std = ops.convert_to_tensor(self.std, dtype=inputs.dtype)
        values = ops.where(padded, ops.zeros_like(inputs), (inputs - mean) / std)
        return values, mask

    def compute_output_spec(self, inputs):
        return (
            keras.KerasTensor(inputs.shape, dtype=self.compute_dtype),
            keras.KerasTensor(inputs.shape[:-1], dtype="bool"),
        )

    def get_config(self):
        config = {"mean": self.mean, "std": self.std, "num_features": self.num_features}
        return {**super().get_config(), **config}


@keras.saving.register_keras_serializable(package="cells", name="Destandardization")
class Destandardization(keras.layers.Layer):
    """Put standardised predictions back in original units: y * std + mean (last axis)."""

    def __init__(self, mean=None, std=None, num_outputs: int | None = None, **kwargs):
        super().__init__(**kwargs)
        size = num_outputs if num_outputs is not None else len(mean if mean is not None else std)
        self.num_outputs = int(size)
        self.mean = _as_vector(mean, self.num_outputs, 0.0, "target_mean")
        self.std = _safe_std(_as_vector(std, self.num_outputs, 1.0, "target_std"))

    def call(self, inputs):
        mean = ops.convert_to_tensor(self.mean, dtype=inputs.dtype)
        std = ops.convert_to_tensor(self.std, dtype=inputs.dtype)
        return inputs * std + mean

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        config = {"mean": self.mean, "std": self.std, "num_outputs": self.num_outputs}
        return {**super().get_config(), **config}


@keras.saving.register_keras_serializable(package="cells", name="LastValidStep")
class LastValidStep(keras.layers.Layer):
    """The last unmasked step of a (batch, steps, width) sequence, (batch, width).

    Without a mask it is the last step. Used for a residual connection into a recurrent layer
    that returns its last state, which is the state after the last unmasked step.
    """

    def call(self, sequences, mask=None):
        if mask is None:
            return sequences[:, -1]
        steps = ops.shape(sequences)[1]
        positions = ops.arange(steps)[None, :]  # (1, steps)
        last = ops.max(ops.where(mask, positions, 0), axis=1)  # (batch,)
        pick = ops.one_hot(last, steps, dtype=sequences.dtype)  # (batch, steps)
        return ops.sum(sequences * pick[:, :, None], axis=1)

    def compute_output_shape(self, input_shape):
        return (input_shape[0], input_shape[2])

    def compute_mask(self, sequences, mask=None):
        return None


@keras.saving.register_keras_serializable(package="cells", name="FeatureMap")
class FeatureMap(keras.layers.Layer):
    """(batch, steps, length * channels) -> (batch, steps, length, channels), keeping the mask.

    Feeds a conv cell the per-step (length, channels) map it convolves over; unlike
    `keras.layers.Reshape` it passes the time-step mask through.
    """

    def __init__(self, length: int, **kwargs):
        super().__init__(**kwargs)
        self.length = int(length)
        self.supports_masking = True

    def call(self, inputs):
        channels = inputs.shape[-1] // self.length
        return ops.reshape(inputs, (ops.shape(inputs)[0], -1, self.length, channels))

    def compute_output_shape(self, input_shape):
        return (*input_shape[:2], self.length, input_shape[-1] // self.length)

    def get_config(self):
        return {**super().get_config(), "length": self.length}
