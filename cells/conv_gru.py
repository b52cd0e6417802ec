"""Convolutional GRU over a per-step spatial axis, the GRU counterpart of Keras' ConvLSTM1D."""

from __future__ import annotations

import keras
import numpy as np
from keras import ops

from cells.base import HoistedCell

# Up to this state size (length * filters) the recurrent convolutions run as banded matmuls;
# the banded matrices hold length / kernel_size times more multiply-adds than the convolution,
# which the saved per-step launches outweigh only while the state is small.
_BANDED_MAX_STATE = 256


def _shift_matrices(kernel_size: int, length: int) -> np.ndarray:
    """S[j, p, q] = 1 where a same-padded convolution reads input p with tap j for output q."""
    left = (kernel_size - 1) // 2  # TensorFlow/XLA "same": the extra zero goes on the right
    shifts = np.zeros((kernel_size, length, length), dtype="float32")
    for j in range(kernel_size):
        for q in range(length):
            p = q + j - left
            if 0 <= p < length:
                shifts[j, p, q] = 1.0
    return shifts


@keras.saving.register_keras_serializable(package="cells", name="ConvGRU1DCell")
class ConvGRU1DCell(HoistedCell):
    """GRU whose gates are 1-D convolutions along a spatial axis of each time step.

    Nicolas Ballas, Li Yao, Chris Pal, Aaron Courville, "Delving Deeper into Convolutional
    Networks for Learning Video Representations", arXiv:1511.06432 (2015), in one spatial
    dimension (as `keras.layers.ConvLSTM1D` is for the LSTM). With `*` a same-padded 1-D
    convolution along the length axis and `.` the element-wise product:

        z_t  = sigmoid(W_z * x_t + U_z * h_{t-1} + b_z)
        r_t  = sigmoid(W_r * x_t + U_r * h_{t-1} + b_r)
        h~_t = tanh(W_h * x_t + U_h * (r_t . h_{t-1}) + b_h)
        h_t  = z_t . h_{t-1} + (1 - z_t) . h~_t

    (Keras' GRU convention for z.) The reset gate really multiplies the state before `U_h`:
    two public ConvGRU implementations compute r and never use it.

    `separable=True` makes every convolution depthwise-separable (Chollet 2017, Xception): a
    per-channel `kernel_size` convolution followed by a 1x1 convolution mixing channels.

    Input per step: (batch, length, channels). Keras' `RNN` only accepts integer state sizes,
    so the state and the output are the flattened (length, filters) map: (batch, length *
    filters), in (position, filter) order. `length` is fixed when the cell is built.

    Speed: the input convolutions of all steps run at once, outside the loop. While the state is
    small (length * filters <= 256) each recurrent convolution runs as one matmul with a banded
    matrix built once per sequence (`loop_constants`), so a step costs what a GRU step costs;
    larger states use `keras.ops.conv` in the loop.

    Weights: `kernel` (k, channels, 3 * filters) [z, r, h], `gate_recurrent_kernel`
    (k, filters, 2 * filters) [z, r], `recurrent_kernel` (k, filters, filters), `bias`
    (3 * filters,); with `separable=True` the kernels are pointwise (k = 1) and
    `depthwise_kernel` (k, channels, 1), `gate_recurrent_depthwise_kernel` and
    `recurrent_depthwise_kernel` (k, filters, 1) hold the per-channel taps.
    """

    def __init__(self, filters: int, kernel_size: int = 3, separable: bool = False, **kwargs):
        super().__init__(**kwargs)
        for name, value in (("filters", filters), ("kernel_size", kernel_size)):
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ValueError(
                    f"ConvGRU1DCell needs a positive integer `{name}`, but got {value!r}."
                )
        self.filters = filters
        self.kernel_size = kernel_size
        self.separable = bool(separable)
        self.length = None  # set by build: the spatial length of each step

    @property
    def state_size(self) -> int | None:
        # None until built: the length comes from the input shape. Build the cell before
        # handing it to keras.layers.RNN, which reads state_size when constructed.
        return None if self.length is None else self.length * self.filters

    @property
    def output_size(self) -> int | None:
        return self.state_size

    @property
    def projection_size(self) -> int:
        return self.length * 3 * self.filters

    def build(self, input_shape):
        if len(input_shape) != 3 or input_shape[1] is None or input_shape[2] is None:
            raise ValueError(
                "ConvGRU1DCell expects steps shaped (batch, length, channels) with known length "
                f"and channels, but got {tuple(input_shape)}."
            )
        self.length, channels = int(input_shape[1]), int(input_shape[2])
        k, f = self.kernel_size, self.filters
        # The z/r and candidate recurrent kernels are separate variables: slicing one weight
        # inside the loop would add a slice and a full-size slice gradient to every step.
        if self.separable:
            self.depthwise_kernel = self._kernel("depthwise_kernel", (k, channels, 1))
            self.kernel = self._kernel("kernel", (1, channels, 3 * f))
            self.gate_recurrent_depthwise_kernel = self._kernel(
                "gate_recurrent_depthwise_kernel", (k, f, 1), recurrent=True
            )
            self.recurrent_depthwise_kernel = self._kernel(
                "recurrent_depthwise_kernel", (k, f, 1), recurrent=True
            )
            k = 1  # the recurrent kernels below are the 1x1 (pointwise) halves
        else:
            self.kernel = self._kernel("kernel", (k, channels, 3 * f))
        self.gate_recurrent_kernel = self._kernel(
            "gate_recurrent_kernel", (k, f, 2 * f), recurrent=True
        )
        self.recurrent_kernel = self._kernel("recurrent_kernel", (k, f, f), recurrent=True)
        self.bias = self._bias((3 * f,))

    def _conv(self, values, pointwise, depthwise=None):
        if depthwise is None:
            return ops.conv(values, pointwise, padding="same")
        return ops.separable_conv(values, depthwise, pointwise, padding="same")

    @property
    def banded(self) -> bool:
        """Whether the recurrent convolutions run as one banded matmul each (see loop_constants)."""
        return self.length is not None and self.length * self.filters <= _BANDED_MAX_STATE

    def project_inputs(self, inputs):
        # inputs: (..., length, channels) -> (..., 3 * length * filters) laid out as
        # [z | r | h], each block in (position, filter) order like the state.
        leading = ops.shape(inputs)[:-2]
        steps = ops.reshape(inputs, (-1, self.length, ops.shape(inputs)[-1]))
        depthwise = self.depthwise_kernel if self.separable else None
        projected = self._conv(steps, self.kernel, depthwise) + self.bias  # (n, L, 3f)
        projected = ops.reshape(projected, (-1, self.length, 3, self.filters))
        projected = ops.transpose(projected, (0, 2, 1, 3))  # (n, 3, L, f)
        return ops.reshape(projected, (*leading, self.projection_size))

    def loop_constants(self):
        """The recurrent convolutions as banded (L * f, L * out) matrices, built once per sequence.

        A same-padded 1-D convolution is linear in the flattened state, so for short feature
        axes one matmul per step replaces a convolution (and its backward kernels) per step,
        which is what a GRU does; a depthwise-separable kernel is the full kernel D * P.
        """
        if not self.banded:
            return None
        gates = self.gate_recurrent_kernel  # (k, f, 2f) or pointwise (1, f, 2f)
        candidate = self.recurrent_kernel  # (k, f, f) or pointwise (1, f, f)
        if self.separable:
            gates = self.gate_recurrent_depthwise_kernel * gates  # (k, f, 2f)
            candidate = self.recurrent_depthwise_kernel * candidate  # (k, f, f)
        shifts = ops.convert_to_tensor(_shift_matrices(self.kernel_size, self.length), gates.dtype)
        L, f = self.length, self.filters
        gates = ops.reshape(gates, (self.kernel_size, f, 2, f))
        gates = ops.einsum("jpq,jcgo->pcgqo", shifts, gates)  # (L, f, 2, L, f)
        candidate = ops.einsum("jpq,jco->pcqo", shifts, candidate)  # (L, f, L, f)
        return ops.reshape(gates, (L * f, 2 * L * f)), ops.reshape(candidate, (L * f, L * f))

    def _recurrent_conv(self, values, pointwise, depthwise):
        # values: (b, L * f) flat -> convolution -> (b, L, out)
        return self._conv(
            ops.reshape(values, (-1, self.length, self.filters)), pointwise, depthwise
        )

    def step(self, projected, states, constants=None, training=False):
        h_prev = self._previous_state(states)  # (b, L * f)
        x_z, x_r, x_h = ops.split(projected, 3, axis=-1)  # (b, L * f) each
        if constants is not None:
            gates_kernel, candidate_kernel = constants
            g_z, g_r = ops.split(ops.matmul(h_prev, gates_kernel), 2, axis=-1)  # (b, L * f)
        else:
            depthwise = self.gate_recurrent_depthwise_kernel if self.separable else None
            gates = self._recurrent_conv(h_prev, self.gate_recurrent_kernel, depthwise)
            g_z, g_r = (ops.reshape(g, (-1, self.state_size)) for g in ops.split(gates, 2, axis=-1))
        z = ops.sigmoid(x_z + g_z)
        r = ops.sigmoid(x_r + g_r)
        if constants is not None:
            recurrent_h = ops.matmul(r * h_prev, candidate_kernel)  # (b, L * f)
        else:
            depthwise = self.recurrent_depthwise_kernel if self.separable else None
            recurrent_h = self._recurrent_conv(r * h_prev, self.recurrent_kernel, depthwise)
            recurrent_h = ops.reshape(recurrent_h, (-1, self.state_size))
        candidate = ops.tanh(x_h + recurrent_h)
        h = candidate + z * (h_prev - candidate)  # = z h + (1 - z) h~
        return h, [h]

    def get_config(self):
        config = {
            "filters": self.filters,
            "kernel_size": self.kernel_size,
            "separable": self.separable,
        }
        return {**super().get_config(), **config}
