"""LSTNet's autoregressive highway: a linear forecast added to the network's.

`cells.build_model` adds it when `Architecture.ar_highway` > 0 (forecasting heads only). A
neural network's output scale does not follow the input's; the linear term does, so the sum
keeps up with a series whose level moves outside what training saw.

`start_at_least_squares` sets the highway to the ridge fit of the training windows and zeroes the
network's forecast, so that training starts from the linear model and learns what it misses:
the hybrid of Zhang (2003, "Time series forecasting using a hybrid ARIMA and neural network
model", Neurocomputing 50). On the small series of the field a least-squares AR is the baseline
to beat, and a network trained from random weights often ends below it.
"""

from __future__ import annotations

import keras
import numpy as np
from keras import ops

from cells.masking import all_valid, zero_padding


def _check_positive(value, what: str) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise ValueError(
            f"AutoregressiveHighway needs a positive integer `{what}`, but got {value!r}."
        )
    return value


@keras.saving.register_keras_serializable(package="cells", name="AutoregressiveHighway")
class AutoregressiveHighway(keras.layers.Layer):
    """Linear AR model over the last `window` steps of each target series: the highway of
    LSTNet (Lai et al. 2018, "Modeling Long- and Short-Term Temporal Patterns with Deep Neural
    Networks", SIGIR, arXiv:1703.07015).

    For x (batch, T, C) whose first K = `num_outputs` channels are the target series, p =
    `window`, and the last valid step T' (the last step, without a mask):

        y_(h, c) = sum_(j=1..p) W_(j, h) x_(T'-p+j, c) + b_h      h = 1..horizon, c = 1..K

    W (p, horizon) and b (horizon,) are shared by every target series, as in LSTNet (which
    forecasts one step: horizon 1). Row j = p of W weighs the last step, so W = e_p (1 there,
    0 elsewhere) with b = 0 is persistence. Padded steps, and steps before the start of the
    input, count as 0 (the training mean, in standardised units).

    `layer(x, mask=m, level=mu)` with mu (batch, 1, C), RevIN's window mean, reads the lags as
    deviations from it, x_(t, c) - mu_c (padded steps then count as the mean): a model that
    adds mu back (RevIN's de-normalisation does) forecasts each window in its own level, and
    a window shifted by a constant is forecast shifted by it, which a fit to levels is not.
    Returns (batch, horizon, K).
    """

    def __init__(self, window: int, horizon: int = 1, num_outputs: int = 1, **kwargs):
        super().__init__(**kwargs)
        self.window = _check_positive(window, "window")
        self.horizon = _check_positive(horizon, "horizon")
        self.num_outputs = _check_positive(num_outputs, "num_outputs")
        self.supports_masking = True

    def build(self, input_shape):
        if input_shape[-1] is not None and input_shape[-1] < self.num_outputs:
            raise ValueError(
                f"AutoregressiveHighway reads the first {self.num_outputs} channels as the "
                f"target series, but its input has only {input_shape[-1]}."
            )
        self.kernel = self.add_weight(shape=(self.window, self.horizon), name="kernel")
        self.bias = self.add_weight(shape=(self.horizon,), name="bias", initializer="zeros")

    def call(self, inputs, mask=None, level=None):
        recent = self.last_steps(inputs, mask, level)  # (batch, p, K), oldest first
        return ops.einsum("bpk,ph->bhk", recent, self.kernel) + self.bias[:, None]

    def last_steps(self, inputs, mask=None, level=None):
        """The `window` steps that end at the last valid one, of the first K channels, less
        `level` (batch, 1, C) where given."""
        mask = all_valid(inputs) if mask is None else ops.cast(mask, "bool")
        targets = inputs[:, :, : self.num_outputs]
        if level is not None:
            targets = targets - level[:, :, : self.num_outputs]
        targets = zero_padding(targets, mask)  # (batch, T, K)
        steps = ops.shape(targets)[1]
        positions = ops.arange(steps, dtype="int32")[None, :]  # (1, T)
        last = ops.max(ops.where(mask, positions, -1), axis=1)  # (batch,)
        offsets = ops.arange(self.window, dtype="int32") - (self.window - 1)  # (p,): 1-p .. 0
        wanted = last[:, None] + offsets[None, :]  # (batch, p)
        picked = ops.take_along_axis(targets, ops.maximum(wanted, 0)[:, :, None], axis=1)
        inside = ops.cast(wanted >= 0, targets.dtype)[:, :, None]  # (batch, p, 1)
        return picked * inside  # (batch, p, K)

    def compute_output_shape(self, input_shape):
        return (input_shape[0], self.horizon, self.num_outputs)

    def compute_mask(self, inputs, mask=None):
        return None  # a forecast, not a sequence of the input's steps

    def get_config(self):
        config = {"window": self.window, "horizon": self.horizon, "num_outputs": self.num_outputs}
        return {**super().get_config(), **config}


# Ridge penalties tried by leave-one-out (in standardised units: a few windows of a short series
# make the plain least-squares fit of p lags ill-posed).
RIDGE_ALPHAS = tuple(np.logspace(-4, 3, 15))


def start_at_least_squares(model: keras.Model, x: np.ndarray, y: np.ndarray) -> float:
    """Zero the network's forecast of `model` (a `cells.build_model` forecaster with an
    `ar_highway`) and fit the highway to the training windows: raw inputs `x` (batch, T, C),
    targets `y` (batch, horizon, K). Returns the ridge penalty leave-one-out chose.

    With the network at zero (and RevIN's window mean, where RevIN is on), the model is the
    linear AR of the residual, fitted by ridge regression over every window and target series
    (the highway's weights are shared by the K series, as in LSTNet). Under RevIN the lags are
    the window's deviations from its mean, as the highway reads them.
    """
    from sklearn.linear_model import RidgeCV

    highway, network = model.get_layer("ar_highway"), model.get_layer("head")
    network.set_weights([np.zeros_like(w) for w in network.get_weights()])
    highway.set_weights([np.zeros_like(w) for w in highway.get_weights()])
    standardize, original = model.get_layer("standardize"), model.get_layer("original_units")
    values, mask = standardize(x.astype("float32"))  # the highway's input
    level = None
    if any(layer.name == "revin" for layer in model.layers):
        _, (level, _) = model.get_layer("revin")(values, mask=mask)
    recent = np.asarray(highway.last_steps(values, mask, level), dtype="float64")  # (batch, p, K)
    # What the zeroed model forecasts: the target mean, or RevIN's window mean.
    base = np.asarray(model.predict(x, batch_size=1024, verbose=0), dtype="float64")
    residual = (y - base) / np.asarray(original.std)  # (batch, horizon, K)
    window, horizon = highway.window, highway.horizon
    features = recent.transpose(0, 2, 1).reshape(-1, window)  # one row per window and series
    targets = residual.transpose(0, 2, 1).reshape(-1, horizon)
    fit = RidgeCV(alphas=RIDGE_ALPHAS).fit(features, targets)
    kernel = np.asarray(fit.coef_, dtype="float32").reshape(horizon, window).T
    bias = np.asarray(fit.intercept_, dtype="float32").reshape(horizon)
    highway.set_weights([kernel, bias])
    return float(fit.alpha_)
