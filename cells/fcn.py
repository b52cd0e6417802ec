"""The fully convolutional branch of LSTM-FCN and GRU-FCN, with MLSTM-FCN's squeeze-and-excite.

`cells.build_model` runs it beside the recurrent stack when `Architecture.fcn` is not "none"
and concatenates its pooled output with the recurrent summary before the head.
"""

from __future__ import annotations

import keras
from keras import ops

from cells.masking import masked_mean, zero_padding

# The papers' three blocks: kernel sizes and filters as multiples of `filters`.
KERNEL_SIZES = (8, 5, 3)
FILTER_MULTIPLES = (1, 2, 1)
# Momentum of the moving mean and variance used at inference. Keras' default 0.99 needs several
# hundred updates to forget its initial (0, 1); a small training set gives 3 updates an epoch, so
# after 20 epochs validation still ran on initial statistics and scored chance (GunPoint, 5
# folds of 40 cases). 0.9 is PyTorch's default (its momentum=0.1).
BATCH_NORM_MOMENTUM = 0.9


def _check_positive(value, what: str, layer: str) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise ValueError(f"{layer} needs a positive integer `{what}`, but got {value!r}.")
    return value


@keras.saving.register_keras_serializable(package="cells", name="SqueezeExcite")
class SqueezeExcite(keras.layers.Layer):
    """Squeeze-and-excite over time: rescales each channel by a gate computed from all steps.

    Hu et al. 2018, "Squeeze-and-Excitation Networks" (CVPR), as used on time series by
    MLSTM-FCN (Karim et al. 2019, arXiv:1801.04503). For h (batch, T, C) and r = `reduction`:

        s   = mean_t h_t                      over the valid steps       (batch, C)
        e   = sigmoid(W_2 ReLU(W_1 s))        W_1 (C, C // r), W_2 (C // r, C), no biases
        h'_t = e * h_t

    C // r is at least 1, so a narrow branch still gets a gate.
    """

    def __init__(self, reduction: int = 16, **kwargs):
        super().__init__(**kwargs)
        self.reduction = _check_positive(reduction, "reduction", "SqueezeExcite")
        self.supports_masking = True  # passes the time-step mask through

    def build(self, input_shape):
        channels = input_shape[-1]
        hidden = max(1, channels // self.reduction)
        # He-normal as in the MLSTM-FCN code (a ReLU follows W_1).
        self.squeeze_kernel = self.add_weight(
            shape=(channels, hidden), name="squeeze_kernel", initializer="he_normal"
        )
        self.excite_kernel = self.add_weight(
            shape=(hidden, channels), name="excite_kernel", initializer="he_normal"
        )

    def call(self, inputs, mask=None):
        squeezed = masked_mean(inputs, mask)  # (batch, C)
        hidden = ops.relu(ops.matmul(squeezed, self.squeeze_kernel))  # (batch, C // r)
        excitation = ops.sigmoid(ops.matmul(hidden, self.excite_kernel))  # (batch, C)
        return inputs * ops.expand_dims(excitation, 1)  # (batch, T, C)

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {**super().get_config(), "reduction": self.reduction}


@keras.saving.register_keras_serializable(package="cells", name="FullyConvolutionalBranch")
class FullyConvolutionalBranch(keras.layers.Layer):
    """The FCN of LSTM-FCN (Karim et al. 2017, arXiv:1709.05206) and GRU-FCN (Elsayed et al.
    2018, arXiv:1812.07683): three temporal convolution blocks and global average pooling.

    For x (batch, T, features) and f = `filters`:

        h^0 = x
        h^k = ReLU(BN(Conv1D_k(h^(k-1))))     k = 1, 2, 3: (f, 2f, f) filters, kernels (8, 5, 3),
                                              "same" padding
        h^k = SE(h^k)                         k = 1, 2, with `squeeze_excite` (MLSTM-FCN,
                                              Karim et al. 2019; `SqueezeExcite`, reduction 16)
        output = mean_t h^3_t                 over the valid steps, (batch, f)

    Padding: with a (batch, T) mask, every h^k is 0 at the padded steps, which is what the
    convolution's "same" padding reads beyond the ends of the series, and batch norm's training
    statistics, the squeeze and the pooling count only valid steps. So padding a series with
    masked steps, before or after, leaves the output unchanged (exactly in inference mode).
    """

    def __init__(self, filters: int = 128, squeeze_excite: bool = False, **kwargs):
        super().__init__(**kwargs)
        self.filters = _check_positive(filters, "filters", "FullyConvolutionalBranch")
        self.squeeze_excite = bool(squeeze_excite)
        self.convs = [
            # He-uniform as in the LSTM-FCN code (a ReLU follows).
            keras.layers.Conv1D(
                multiple * self.filters, kernel, padding="same", kernel_initializer="he_uniform"
            )
            for multiple, kernel in zip(FILTER_MULTIPLES, KERNEL_SIZES, strict=True)
        ]
        self.norms = [
            keras.layers.BatchNormalization(momentum=BATCH_NORM_MOMENTUM) for _ in KERNEL_SIZES
        ]
        self.excites = [SqueezeExcite() for _ in KERNEL_SIZES[:2]] if self.squeeze_excite else []
        self.supports_masking = True

    def build(self, input_shape):
        shape = tuple(input_shape)
        for index, (conv, norm) in enumerate(zip(self.convs, self.norms, strict=True)):
            conv.build(shape)
            shape = (*shape[:2], conv.filters)
            norm.build(shape)
            if index < len(self.excites):
                self.excites[index].build(shape)

    def call(self, inputs, mask=None, training=None):
        h = zero_padding(inputs, mask)  # (batch, T, features)
        for index, (conv, norm) in enumerate(zip(self.convs, self.norms, strict=True)):
            h = ops.relu(norm(conv(h), training=training, mask=mask))  # (batch, T, filters_k)
            if index < len(self.excites):
                h = self.excites[index](h, mask=mask)
            h = zero_padding(h, mask)
        return masked_mean(h, mask)  # (batch, f)

    def compute_output_shape(self, input_shape):
        return (input_shape[0], self.filters)

    def compute_mask(self, inputs, mask=None):
        return None  # pooled over time

    def get_config(self):
        config = {"filters": self.filters, "squeeze_excite": self.squeeze_excite}
        return {**super().get_config(), **config}
