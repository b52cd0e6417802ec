"""Independent NumPy references for the sequence layers in front of and beside the recurrent
stack (`cells.fcn`, `cells.downsampling`, `cells.revin`, `cells.autoregressive`).

Written from the papers' equations on float64, for ONE unpadded series (steps, channels): no
masks here. A test pads the series, runs the layer with the mask, and compares with the
reference on the series alone, which is what "padding changes nothing" means.
"""

from __future__ import annotations

import math

import numpy as np

from tests.cells.numpy_reference import conv1d_same, sigmoid


def relu(x):
    return np.maximum(x, 0.0)


def batch_norm(x, norm, epsilon=1e-3):
    """Inference-mode batch norm; `norm` = (gamma, beta, moving_mean, moving_variance)."""
    gamma, beta, mean, variance = norm
    return (x - mean) / np.sqrt(variance + epsilon) * gamma + beta


def squeeze_excite(h, squeeze_kernel, excite_kernel):
    """h (steps, C): h * sigmoid(W_2 relu(W_1 mean_t h))."""
    excitation = sigmoid(relu(h.mean(axis=0) @ squeeze_kernel) @ excite_kernel)  # (C,)
    return h * excitation


def fcn_branch(x, convs, norms, excites=()):
    """LSTM-FCN's branch on x (steps, features): three Conv-BN-ReLU blocks, optional SE after
    the first two, then the mean over time. `convs` = [(kernel, bias)] * 3, `norms` as for
    `batch_norm`, `excites` = [(squeeze_kernel, excite_kernel)] * 2 or empty."""
    h = x
    for index, ((kernel, bias), norm) in enumerate(zip(convs, norms, strict=True)):
        h = relu(batch_norm(conv1d_same(h[None], kernel)[0] + bias, norm))
        if index < len(excites):
            h = squeeze_excite(h, *excites[index])
    return h.mean(axis=0)


def conv1d_strided_same(x, kernel, bias, stride=2):
    """x (steps, in), kernel (k, in, out): "same" padding as TensorFlow and XLA define it for a
    stride, out = ceil(steps / stride) with floor(total / 2) zeros on the left."""
    k, steps = kernel.shape[0], x.shape[0]
    out = math.ceil(steps / stride)
    total = max((out - 1) * stride + k - steps, 0)
    padded = np.pad(x, ((total // 2, total - total // 2), (0, 0)))
    windows = [padded[i * stride : i * stride + k] for i in range(out)]  # each (k, in)
    return np.stack([np.einsum("ki,kio->o", w, kernel) for w in windows]) + bias


def downsample(x, convs, norms):
    """Deep Speech 2's strided front end on x (steps, D): Conv(stride 2)-BN-ReLU blocks."""
    h = x
    for (kernel, bias), norm in zip(convs, norms, strict=True):
        h = relu(batch_norm(conv1d_strided_same(h, kernel, bias), norm))
    return h


def revin_normalize(x, gamma, beta, epsilon=1e-5):
    """RevIN on x (steps, C): returns (x_hat, mean (C,), std (C,))."""
    mean = x.mean(axis=0)
    std = np.sqrt(((x - mean) ** 2).mean(axis=0) + epsilon)
    return gamma * (x - mean) / std + beta, mean, std


def revin_denormalize(y, mean, std, gamma, beta, epsilon=1e-5):
    """The inverse on y (horizon, K) with the first K channels' statistics and weights."""
    k = y.shape[-1]
    return (y - beta[:k]) / (gamma[:k] + epsilon**2) * std[:k] + mean[:k]


def ar_forecast(x, kernel, bias, num_outputs):
    """LSTNet's highway on x (steps, C): (horizon, K), W (p, horizon) shared by the K targets."""
    window = kernel.shape[0]
    recent = x[-window:, :num_outputs]  # (p, K), oldest first
    return kernel.T @ recent + bias[:, None]  # (horizon, K)
