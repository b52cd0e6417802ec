"""Independent NumPy implementations of every cell's equations (the docstrings' maths).

Written from the papers' equations, not from the Keras code: one time step per function, on
float64, with the weights passed by name.
"""

from __future__ import annotations

import numpy as np


def sigmoid(x):
    return 1.0 / (1.0 + np.exp(-x))


def minimal_step(x, h, w):
    z = np.tanh(x @ w["kernel"] + w["bias"][: h.shape[-1]])
    u = sigmoid(h @ w["recurrent_kernel"] + z @ w["latent_kernel"] + w["bias"][h.shape[-1] :])
    return u * h + (1.0 - u) * z


def mgu_step(x, h, w):
    n = h.shape[-1]
    W, b = w["kernel"], w["bias"]
    f = sigmoid(x @ W[:, :n] + h @ w["forget_recurrent_kernel"] + b[:n])
    candidate = np.tanh(x @ W[:, n:] + (f * h) @ w["recurrent_kernel"] + b[n:])
    return (1.0 - f) * h + f * candidate


def _layer_norm_blocks(v, gamma, beta, n, eps=1e-5):
    out = np.empty_like(v)
    for g in range(3):
        block = v[:, g * n : (g + 1) * n]
        mu = block.mean(axis=-1, keepdims=True)
        var = ((block - mu) ** 2).mean(axis=-1, keepdims=True)
        out[:, g * n : (g + 1) * n] = (block - mu) / np.sqrt(var + eps)
    return out * gamma + beta


def layernorm_gru_step(x, h, w, layer_norm=True):
    """Ba et al. (2016) LN-GRU in the reset-after form, Keras' gate order [z, r, h]."""
    n = h.shape[-1]
    a = x @ w["kernel"]
    c = h @ w["recurrent_kernel"]
    if layer_norm:
        a = _layer_norm_blocks(a, w["input_gamma"], w["input_beta"], n)
        c = _layer_norm_blocks(c, w["recurrent_gamma"], w["recurrent_beta"], n)
    else:
        a, c = a + w["bias"][0], c + w["bias"][1]
    z = sigmoid(a[:, :n] + c[:, :n])
    r = sigmoid(a[:, n : 2 * n] + c[:, n : 2 * n])
    candidate = np.tanh(a[:, 2 * n :] + r * c[:, 2 * n :])
    return z * h + (1.0 - z) * candidate


def gru_step_reset_before(x, h, w):
    """The seed document's GRU (Keras reset_after=False): U_h multiplies r * h."""
    n = h.shape[-1]
    W, U, b = w["kernel"], w["recurrent_kernel"], w["bias"]
    z = sigmoid(x @ W[:, :n] + h @ U[:, :n] + b[:n])
    r = sigmoid(x @ W[:, n : 2 * n] + h @ U[:, n : 2 * n] + b[n : 2 * n])
    candidate = np.tanh(x @ W[:, 2 * n :] + (r * h) @ U[:, 2 * n :] + b[2 * n :])
    return z * h + (1.0 - z) * candidate


def conv1d_same(x, kernel):
    """Cross-correlation of x (batch, length, in) with kernel (k, in, out), 'same' padding.

    Like TensorFlow and XLA, an even kernel pads one more zero on the right than on the left.
    """
    k = kernel.shape[0]
    left = (k - 1) // 2
    padded = np.pad(x, ((0, 0), (left, k - 1 - left), (0, 0)))
    length = x.shape[1]
    return sum(padded[:, j : j + length, :] @ kernel[j] for j in range(k))


def depthwise_conv1d_same(x, kernel):
    """Per-channel cross-correlation: x (batch, length, c), kernel (k, c, 1)."""
    k = kernel.shape[0]
    left = (k - 1) // 2
    padded = np.pad(x, ((0, 0), (left, k - 1 - left), (0, 0)))
    length = x.shape[1]
    return sum(padded[:, j : j + length, :] * kernel[j, :, 0] for j in range(k))


def conv_gru_step(x, h, w, filters, separable=False):
    """ConvGRU step: x (batch, length, channels), h (batch, length * filters) flattened."""
    f = filters
    batch, length = x.shape[0], x.shape[1]
    h = h.reshape(batch, length, f)
    if separable:

        def conv_x(v):
            return depthwise_conv1d_same(v, w["depthwise_kernel"]) @ w["kernel"][0]

        def conv_gates(v):
            depthwise = depthwise_conv1d_same(v, w["gate_recurrent_depthwise_kernel"])
            return depthwise @ w["gate_recurrent_kernel"][0]

        def conv_candidate(v):
            depthwise = depthwise_conv1d_same(v, w["recurrent_depthwise_kernel"])
            return depthwise @ w["recurrent_kernel"][0]
    else:

        def conv_x(v):
            return conv1d_same(v, w["kernel"])

        def conv_gates(v):
            return conv1d_same(v, w["gate_recurrent_kernel"])

        def conv_candidate(v):
            return conv1d_same(v, w["recurrent_kernel"])

    xs = conv_x(x) + w["bias"]  # (batch, length, 3f)
    gates = conv_gates(h)
    z = sigmoid(xs[..., :f] + gates[..., :f])
    r = sigmoid(xs[..., f : 2 * f] + gates[..., f:])
    candidate = np.tanh(xs[..., 2 * f :] + conv_candidate(r * h))
    return (z * h + (1.0 - z) * candidate).reshape(batch, length * f)


def run_sequence(step, xs, h0, mask=None, go_backwards=False):
    """Loop `step` over xs (batch, time, ...); masked steps keep the previous state.

    Returns the per-step outputs (batch, time, units) in processing order and the last state.
    """
    order = range(xs.shape[1] - 1, -1, -1) if go_backwards else range(xs.shape[1])
    h, outputs = h0, []
    for t in order:
        new = step(xs[:, t], h)
        if mask is not None:
            keep = mask[:, t][:, None]
            new = np.where(keep, new, h)
        h = new
        outputs.append(h)
    return np.stack(outputs, axis=1), h
