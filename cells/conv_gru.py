"""Convolutional GRU over a per-step spatial axis, the GRU counterpart of Keras' ConvLSTM1D."""

from __future__ import annotations

import keras
from keras import ops

from cells.base import HoistedCell


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
    filters). `length` is fixed when the cell is built. The input convolutions of all steps run
    at once, outside the loop.
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
        self.gate_recurrent_kernel = self._kernel("gate_recurrent_kernel", (k, f, 2 * f), recurrent=True)
        self.recurrent_kernel = self._kernel("recurrent_kernel", (k, f, f), recurrent=True)
        self.bias = self.add_weight(shape=(3 * f,), name="bias", initializer=self.bias_initializer)

    def _kernel(self, name, shape, recurrent=False):
        initializer = self.recurrent_initializer if recurrent else self.kernel_initializer
        # Orthogonal initialisation needs a 2-D view; Keras' initializer flattens leading axes.
        return self.add_weight(shape=shape, name=name, initializer=initializer)

    def _conv(self, values, pointwise, depthwise=None):
        if depthwise is None:
            return ops.conv(values, pointwise, padding="same")
        return ops.separable_conv(values, depthwise, pointwise, padding="same")

    def project_inputs(self, inputs):
        # inputs: (..., length, channels) -> (..., length * 3 * filters), all steps at once.
        leading = ops.shape(inputs)[:-2]
        steps = ops.reshape(inputs, (-1, self.length, ops.shape(inputs)[-1]))
        depthwise = self.depthwise_kernel if self.separable else None
        projected = self._conv(steps, self.kernel, depthwise) + self.bias  # (n, length, 3f)
        return ops.reshape(projected, (*leading, self.projection_size))

    def step(self, projected, states, training=False):
        f = self.filters
        h_prev = ops.reshape(self._previous_state(states), (-1, self.length, f))  # (b, L, f)
        x = ops.reshape(projected, (-1, self.length, 3 * f))  # (b, L, 3f)
        x_zr, x_h = ops.split(x, [2 * f], axis=-1)  # (b, L, 2f), (b, L, f)
        gate_depthwise = self.gate_recurrent_depthwise_kernel if self.separable else None
        depthwise = self.recurrent_depthwise_kernel if self.separable else None
        gates = self._conv(h_prev, self.gate_recurrent_kernel, gate_depthwise)  # (b, L, 2f)
        z, r = ops.split(ops.sigmoid(x_zr + gates), 2, axis=-1)  # (b, L, f) each
        candidate = ops.tanh(x_h + self._conv(r * h_prev, self.recurrent_kernel, depthwise))
        h = candidate + z * (h_prev - candidate)  # = z h + (1 - z) h~
        h = ops.reshape(h, (-1, self.length * f))  # (b, L * f)
        return h, [h]

    def get_config(self):
        config = {
            "filters": self.filters,
            "kernel_size": self.kernel_size,
            "separable": self.separable,
        }
        return {**super().get_config(), **config}
