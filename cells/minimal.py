"""MinimalRNN (Chen 2017), the genuinely lightweight gated cell."""

from __future__ import annotations

import keras
from keras import ops

from cells.base import UnitsCell


@keras.saving.register_keras_serializable(package="cells", name="MinimalRNNCell")
class MinimalRNNCell(UnitsCell):
    """MinimalRNN cell: one gate mixing the state with an input-only latent.

    Minmin Chen, "MinimalRNN: Toward More Interpretable and Trainable Recurrent Neural
    Networks", arXiv:1711.06788 (2017):

        z_t = tanh(W_x x_t + b_z)                  latent of the input alone
        u_t = sigmoid(U_h h_{t-1} + U_z z_t + b_u)  update gate
        h_t = u_t * h_{t-1} + (1 - u_t) * z_t

    Because `z_t` and `U_z z_t` depend on the input only, both are hoisted: the loop does one
    `(units, units)` matmul per step, a third of a GRU's `(units, 3 * units)`.

    Not to be confused with the "MinimalRNNCell" snippet of the seed document, whose single
    linear layer produces both a reset and an update gate from `[x, h]`: that is algebraically
    the GRU with `reset_after=False`, with the GRU's parameter count (variant `gru`,
    `reset_after: false`).

    Weights: `kernel` W_x (input_dim, units), `recurrent_kernel` U_h (units, units),
    `latent_kernel` U_z (units, units), `bias` [b_z, b_u] (2 * units,).
    """

    @property
    def projection_size(self) -> int:
        return 2 * self.units

    def build(self, input_shape):
        units = self.units
        self.kernel = self._kernel("kernel", (input_shape[-1], units))
        self.recurrent_kernel = self._kernel("recurrent_kernel", (units, units), recurrent=True)
        self.latent_kernel = self._kernel("latent_kernel", (units, units), recurrent=True)
        self.bias = self._bias((2 * units,))

    def project_inputs(self, inputs):
        # inputs: (..., input_dim) -> (..., 2 * units) = [z, U_z z + b_u]
        bias_z, bias_u = self.bias[: self.units], self.bias[self.units :]
        latent = ops.tanh(ops.matmul(inputs, self.kernel) + bias_z)  # (..., units)
        gate_input = ops.matmul(latent, self.latent_kernel) + bias_u  # (..., units)
        return ops.concatenate([latent, gate_input], axis=-1)

    def step(self, projected, states, constants=None, training=False):
        h_prev = self._previous_state(states)  # (batch, units)
        latent, gate_input = ops.split(projected, 2, axis=-1)  # (batch, units) each
        u = ops.sigmoid(ops.matmul(h_prev, self.recurrent_kernel) + gate_input)  # (batch, units)
        h = latent + u * (h_prev - latent)  # = u h + (1 - u) z, one op fewer
        return h, [h]
