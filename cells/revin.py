"""Reversible instance normalisation: forecast each window in its own units.

`cells.build_model` wraps the network in it when `Architecture.revin` is on: the input window
is normalised on the way in and, for a forecasting head, the forecast de-normalised on the way
out, both with that window's statistics, so a level the training data never reached is still a
level the model can forecast. Classification and regression heads use the first half alone
(instance normalisation of each series): their inputs' scales may differ by orders of
magnitude between series, which one set of training statistics cannot bring to unit scale.
"""

from __future__ import annotations

import keras
from keras import ops

from cells.masking import masked_mean, zero_padding


@keras.saving.register_keras_serializable(package="cells", name="ReversibleInstanceNormalization")
class ReversibleInstanceNormalization(keras.layers.Layer):
    """RevIN: Kim et al. 2022, "Reversible Instance Normalization for Accurate Time-Series
    Forecasting Against Distribution Shift" (ICLR).

    One layer, called twice with shared weights. Normalise, `layer(x, mask=m)` with x
    (batch, T, C) and a (batch, T) mask, per window and channel over the valid steps:

        mu_c    = mean_t x_tc
        sigma_c = sqrt(mean_t (x_tc - mu_c)^2 + eps)
        x^_tc   = gamma_c (x_tc - mu_c) / sigma_c + beta_c      0 at the padded steps

    and returns (x^, (mu, sigma)), mu and sigma (batch, 1, C). De-normalise,
    `layer(y^, statistics=(mu, sigma))` with y^ (batch, H, K), K <= C: the forecast of the
    first K channels, with their statistics and affine weights:

        y_tc = (y^_tc - beta_c) / (gamma_c + eps^2) * sigma_c + mu_c

    gamma (init 1) and beta (init 0) are learned per channel when `affine`; eps^2 in the
    denominator keeps it finite, as in the authors' code. Padded steps enter no statistic.
    """

    def __init__(self, epsilon: float = 1e-5, affine: bool = True, **kwargs):
        super().__init__(**kwargs)
        if not (isinstance(epsilon, int | float) and epsilon > 0):
            raise ValueError(
                f"ReversibleInstanceNormalization `epsilon` must be positive, but got {epsilon!r}."
            )
        self.epsilon = float(epsilon)
        self.affine = bool(affine)
        self.supports_masking = True

    def build(self, input_shape):
        if self.affine:
            channels = input_shape[-1]
            self.affine_weight = self.add_weight(
                shape=(channels,), name="affine_weight", initializer="ones"
            )
            self.affine_bias = self.add_weight(
                shape=(channels,), name="affine_bias", initializer="zeros"
            )

    def call(self, inputs, mask=None, statistics=None):
        if statistics is None:
            return self._normalize(inputs, mask)
        return self._denormalize(inputs, statistics)

    def _normalize(self, x, mask):
        # Statistics are constants of the window, not paths for the gradient (authors' code).
        mean = ops.stop_gradient(masked_mean(x, mask, keepdims=True))  # (batch, 1, C)
        variance = masked_mean(ops.square(x - mean), mask, keepdims=True)  # (batch, 1, C)
        std = ops.stop_gradient(ops.sqrt(variance + self.epsilon))  # (batch, 1, C)
        normalized = (x - mean) / std
        if self.affine:
            normalized = normalized * self.affine_weight + self.affine_bias
        return zero_padding(normalized, mask), (mean, std)

    def _denormalize(self, y, statistics):
        mean, std = statistics  # (batch, 1, C) each
        outputs = y.shape[-1]  # K: the first K channels are the ones forecast
        if self.affine:
            y = (y - self.affine_bias[:outputs]) / (self.affine_weight[:outputs] + self.epsilon**2)
        return y * std[..., :outputs] + mean[..., :outputs]  # (batch, H, K)

    def compute_output_spec(self, inputs, mask=None, statistics=None):
        if statistics is not None:
            return keras.KerasTensor(inputs.shape, dtype=self.compute_dtype)
        moments = (inputs.shape[0], 1, inputs.shape[-1])
        return (
            keras.KerasTensor(inputs.shape, dtype=self.compute_dtype),
            (
                keras.KerasTensor(moments, dtype=self.compute_dtype),
                keras.KerasTensor(moments, dtype=self.compute_dtype),
            ),
        )

    def compute_mask(self, inputs, mask=None):
        return None  # the builder passes the time-step mask on explicitly

    def get_config(self):
        config = {"epsilon": self.epsilon, "affine": self.affine}
        return {**super().get_config(), **config}
