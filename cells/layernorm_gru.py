"""GRU with layer normalisation of its input and recurrent projections (Ba et al. 2016)."""

from __future__ import annotations

import keras
from keras import ops

from cells.base import UnitsCell


@keras.saving.register_keras_serializable(package="cells", name="LayerNormGRUCell")
class LayerNormGRUCell(UnitsCell):
    """Layer-normalised GRU in the reset-after (cuDNN) form.

    Jimmy Lei Ba, Jamie Ryan Kiros, Geoffrey E. Hinton, "Layer Normalization",
    arXiv:1607.06450 (2016), appendix: the GRU whose input projection `W x_t` and recurrent
    projection `U h_{t-1}` are each layer-normalised, with the reset gate applied after the
    recurrent matmul. Gates are ordered [z, r, h] as in Keras; LN is taken over each gate's
    `units` block separately, with its own gain and shift:

        [a_z, a_r, a_h] = LN(W x_t)               (input_gamma, input_beta)
        [c_z, c_r, c_h] = LN(U h_{t-1})           (recurrent_gamma, recurrent_beta)
        z_t  = sigmoid(a_z + c_z)
        r_t  = sigmoid(a_r + c_r)
        h~_t = tanh(a_h + r_t * c_h)
        h_t  = z_t * h_{t-1} + (1 - z_t) * h~_t

    With `layer_norm=False` each LN is replaced by a bias and the cell is exactly
    `keras.layers.GRUCell(units, reset_after=True)` (Keras' default) with the same weight layout:
    `kernel` (input_dim, 3 * units), `recurrent_kernel` (units, 3 * units), `bias`
    (2, 3 * units). With `layer_norm=True` the LN shifts play the biases' role, so there is no
    separate bias. Ba et al. write the update as `(1 - z) h + z h~`; Keras' convention (kept
    here) swaps the roles of z and 1 - z, which is the same family of functions.

    The input projection and its normalisation are hoisted out of the loop; the loop does one
    `(units, 3 * units)` matmul and one LN per step.
    """

    def __init__(self, units: int, layer_norm: bool = True, epsilon: float = 1e-5, **kwargs):
        super().__init__(units, **kwargs)
        self.layer_norm = bool(layer_norm)
        self.epsilon = float(epsilon)

    @property
    def projection_size(self) -> int:
        return 3 * self.units

    def build(self, input_shape):
        units = self.units
        self.kernel = self._kernel("kernel", (input_shape[-1], 3 * units))
        self.recurrent_kernel = self._kernel("recurrent_kernel", (units, 3 * units), recurrent=True)
        if self.layer_norm:
            self.input_gamma = self.add_weight(
                shape=(3 * units,), name="input_gamma", initializer="ones"
            )
            self.input_beta = self.add_weight(
                shape=(3 * units,), name="input_beta", initializer="zeros"
            )
            self.recurrent_gamma = self.add_weight(
                shape=(3 * units,), name="recurrent_gamma", initializer="ones"
            )
            self.recurrent_beta = self.add_weight(
                shape=(3 * units,), name="recurrent_beta", initializer="zeros"
            )
        else:
            # Row 0: input bias, row 1: recurrent bias (GRUCell's layout for reset_after=True).
            self.bias = self._bias((2, 3 * units))

    def _normalize(self, values, gamma, beta):
        # values: (..., 3 * units); each gate's block is normalised on its own. Written with
        # few ops because it runs inside the loop: each op is a kernel launch per step.
        shape = ops.shape(values)
        blocks = ops.reshape(values, (-1, 3, self.units))  # (n, 3, units)
        centred = blocks - ops.mean(blocks, axis=-1, keepdims=True)
        variance = ops.mean(ops.square(centred), axis=-1, keepdims=True)  # (n, 3, 1)
        normalized = ops.reshape(centred * ops.rsqrt(variance + self.epsilon), shape)
        return normalized * gamma + beta

    def project_inputs(self, inputs):
        # inputs: (..., input_dim) -> (..., 3 * units) = [a_z, a_r, a_h]
        projected = ops.matmul(inputs, self.kernel)
        if self.layer_norm:
            return self._normalize(projected, self.input_gamma, self.input_beta)
        return projected + self.bias[0]

    def step(self, projected, states, constants=None, training=False):
        h_prev = self._previous_state(states)  # (batch, units)
        units = self.units
        recurrent = ops.matmul(h_prev, self.recurrent_kernel)  # (batch, 3 * units)
        if self.layer_norm:
            recurrent = self._normalize(recurrent, self.recurrent_gamma, self.recurrent_beta)
        else:
            recurrent = recurrent + self.bias[1]
        x_zr, x_h = ops.split(projected, [2 * units], axis=-1)  # (batch, 2u), (batch, u)
        c_zr, c_h = ops.split(recurrent, [2 * units], axis=-1)
        z, r = ops.split(ops.sigmoid(x_zr + c_zr), 2, axis=-1)  # (batch, units) each
        candidate = ops.tanh(x_h + r * c_h)
        h = candidate + z * (h_prev - candidate)  # = z h + (1 - z) h~, one op fewer
        return h, [h]

    def get_config(self):
        config = {"layer_norm": self.layer_norm, "epsilon": self.epsilon}
        return {**super().get_config(), **config}
