"""Minimal gated unit (Zhou et al. 2016): a GRU with one gate."""

from __future__ import annotations

import keras
from keras import ops

from cells.base import UnitsCell


@keras.saving.register_keras_serializable(package="cells", name="MGUCell")
class MGUCell(UnitsCell):
    """Minimal gated unit: the forget gate doubles as the reset gate.

    Guo-Bing Zhou, Jianxin Wu, Chen-Lin Zhang, Zhi-Hua Zhou, "Minimal Gated Unit for Recurrent
    Neural Networks", arXiv:1603.09420 (2016):

        f_t  = sigmoid(W_f x_t + U_f h_{t-1} + b_f)
        h~_t = tanh(W_h x_t + U_h (f_t * h_{t-1}) + b_h)
        h_t  = (1 - f_t) * h_{t-1} + f_t * h~_t

    The input terms `W x_t + b` are hoisted; the loop does two `(units, units)` matmuls per step
    against a GRU's `(units, 3 * units)`.

    Weights: `kernel` [W_f, W_h] (input_dim, 2 * units), `forget_recurrent_kernel` U_f and
    `recurrent_kernel` U_h (units, units) each, `bias` [b_f, b_h] (2 * units,). U_f and U_h are
    separate variables because slicing one weight inside the loop adds a slice, and a
    full-size slice gradient, to every step.
    """

    @property
    def projection_size(self) -> int:
        return 2 * self.units

    def build(self, input_shape):
        units = self.units
        self.kernel = self._kernel("kernel", (input_shape[-1], 2 * units))
        self.forget_recurrent_kernel = self._kernel(
            "forget_recurrent_kernel", (units, units), recurrent=True
        )
        self.recurrent_kernel = self._kernel("recurrent_kernel", (units, units), recurrent=True)
        self.bias = self._bias((2 * units,))

    def project_inputs(self, inputs):
        # inputs: (..., input_dim) -> (..., 2 * units) = [W_f x + b_f, W_h x + b_h]
        return ops.matmul(inputs, self.kernel) + self.bias

    def step(self, projected, states, constants=None, training=False):
        h_prev = self._previous_state(states)  # (batch, units)
        x_f, x_h = ops.split(projected, 2, axis=-1)  # (batch, units) each
        f = ops.sigmoid(x_f + ops.matmul(h_prev, self.forget_recurrent_kernel))
        candidate = ops.tanh(x_h + ops.matmul(f * h_prev, self.recurrent_kernel))
        h = h_prev + f * (candidate - h_prev)  # = (1 - f) h + f h~, one op fewer
        return h, [h]
