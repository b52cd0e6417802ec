"""MiniRocket's random convolutional features beside the network, read out by ridge regression.

`cells.build_model` adds them when `Architecture.minirocket` is on (classification and
regression heads): a fixed transform of the input, and a frozen linear readout added to the
head's logits (or standardised values). `start_at_ridge` fits the transform's biases and the
readout to the training cases and zeroes the network's own head, so that training starts
from MiniRocket's ridge classifier (or regressor) and the network learns what it misses, as
`cells.autoregressive.start_at_least_squares` starts a forecaster at the linear AR fit. On
the small sets of the field MiniRocket is the quick baseline to beat, and a network trained
from random weights often ends below it (issue 11: ACSF1, PickupGestureWiimoteZ).
"""

from __future__ import annotations

from itertools import combinations

import keras
import numpy as np
from keras import ops

from cells.masking import all_valid

# The 84 kernels: 9 weights of -1, three of them +2 (so each kernel sums to 0); a kernel is the
# positions of its three +2 weights.
KERNEL_LENGTH = 9
KERNELS = np.array(list(combinations(range(KERNEL_LENGTH), 3)), dtype="int32")  # (84, 3)


def kernel_weights() -> np.ndarray:
    """The 84 kernels as weights (9, 84): -1 everywhere, +2 at each kernel's three positions."""
    weights = -np.ones((KERNEL_LENGTH, len(KERNELS)), dtype="float32")
    for kernel, positions in enumerate(KERNELS):
        weights[positions, kernel] = 2.0
    return weights


def dilations_for(length: int, num_features: int, max_dilations: int = 32):
    """(dilations, features per dilation and kernel) for series of `length` steps: MiniRocket's
    exponential spread of dilations up to the one whose receptive field spans the series, and
    num_features // 84 biases per kernel shared out between them (aeon's `_fit_dilations`)."""
    per_kernel = num_features // len(KERNELS)
    spread = min(per_kernel, max_dilations)
    top = np.log2(max(length - 1, 1) / (KERNEL_LENGTH - 1))
    dilations, counts = np.unique(
        np.logspace(0, max(top, 0.0), spread, base=2).astype("int32"), return_counts=True
    )
    counts = (counts * (per_kernel / spread)).astype("int32")
    for i in range(per_kernel - int(counts.sum())):  # the remainder, one each from the smallest
        counts[i % len(counts)] += 1
    return [int(d) for d in dilations], [int(c) for c in counts]


def quantiles(count: int) -> np.ndarray:
    """MiniRocket's low-discrepancy quantiles: the fractional parts of k times the golden ratio."""
    return ((np.arange(1, count + 1) * ((np.sqrt(5) + 1) / 2)) % 1).astype("float32")


@keras.saving.register_keras_serializable(package="cells", name="MiniRocketFeatures")
class MiniRocketFeatures(keras.layers.Layer):
    """MiniRocket's transform: Dempster, Schmidt & Webb 2021, "MiniRocket: A Very Fast (Almost)
    Deterministic Transform for Time Series Classification" (KDD, arXiv:2012.08791), with its
    multivariate form (each kernel and dilation sums a random subset of the channels).

    For x (batch, T, C) and each dilation d and kernel k (weights w, positions j = -4..4):

        c_t = sum_(channels of (d, k)) sum_j w_j x_(t + j d)          zero beyond the ends
        f_b = mean_t [c_t > b]      for each of (d, k)'s biases b     over the valid steps

    (the proportion of positive values, PPV). Every other (d, k) pair, alternating as in the
    paper, averages only over the steps whose receptive field lies inside the series. Returns
    (batch, 84 * sum(counts)) features in aeon's order: dilation, then kernel, then bias.

    The dilations and feature counts follow from `length` (the training series' length, padded
    length for series of several lengths). The channel subsets are drawn from `seed`; the biases
    are quantiles of the convolution of random training cases, set by `adapt`. Nothing here is
    trainable, and no gradient flows back through it.
    """

    def __init__(self, length: int, num_features: int = 10_000, seed: int = 0, **kwargs):
        super().__init__(**kwargs)
        # Series shorter than a kernel are read as zero-padded to 9 steps, as aeon asks for.
        if not (isinstance(length, int) and length >= 1):
            raise ValueError(f"MiniRocketFeatures needs a positive length, but got {length!r}.")
        if not (isinstance(num_features, int) and num_features >= len(KERNELS)):
            raise ValueError(
                f"MiniRocketFeatures needs num_features >= {len(KERNELS)}, but got {num_features!r}."
            )
        self.length, self.num_features, self.seed = length, num_features, int(seed)
        self.dilations, self.counts = dilations_for(length, num_features)
        self.supports_masking = True

    @property
    def output_size(self) -> int:
        return len(KERNELS) * sum(self.counts)

    def build(self, input_shape):
        channels = int(input_shape[-1])
        self.kernels = ops.convert_to_tensor(kernel_weights())  # (9, 84)
        self.channel_sets = self.add_weight(
            shape=(len(self.dilations), channels, len(KERNELS)),
            name="channel_sets",
            initializer=keras.initializers.Constant(self._draw_channel_sets(channels)),
            trainable=False,
        )
        # One weight per dilation: a graph that slices one long vector traces 20 % slower.
        self.biases = [
            self.add_weight(
                shape=(len(KERNELS), count), name=f"biases_{index}", initializer="zeros",
                trainable=False,
            )
            for index, count in enumerate(self.counts)
        ]  # fmt: skip

    def _draw_channel_sets(self, channels: int) -> np.ndarray:
        """0/1 (dilations, C, 84): which channels each (dilation, kernel) sums; 1 to 9 of them,
        log-uniformly many (aeon's `_static_fit`)."""
        rng = np.random.default_rng(self.seed)
        pairs = len(self.dilations) * len(KERNELS)
        sizes = (2 ** rng.uniform(0, np.log2(min(channels, 9) + 1), pairs)).astype("int32")
        chosen = np.zeros((pairs, channels), dtype="float32")
        for pair, size in enumerate(sizes):
            chosen[pair, rng.choice(channels, size, replace=False)] = 1.0
        return chosen.reshape(len(self.dilations), len(KERNELS), channels).transpose(0, 2, 1)

    def convolutions(self, inputs, index: int):
        """c (batch, T, 84) of dilation number `index`: each kernel over its channel subset.

        As MiniRocket computes it: the nine steps each output reads, t + (j - 4) d, are gathered
        from the zero-padded input once, and every kernel weighs the same nine. (A dilated
        depthwise convolution gives the same, but traced 3x slower on TensorFlow, and a
        SavedModel export traces a model several times.)"""
        dilation = self.dilations[index]
        reach = (KERNEL_LENGTH // 2) * dilation
        padded = ops.pad(inputs, [[0, 0], [reach, reach], [0, 0]])
        offsets = np.arange(KERNEL_LENGTH, dtype="int32")[None, :] * dilation  # (1, 9)
        positions = ops.arange(ops.shape(inputs)[1], dtype="int32")[:, None] + offsets  # (T, 9)
        taps = ops.take(padded, positions, axis=1)  # (batch, T, 9, C)
        channels = int(inputs.shape[-1])
        taps = ops.reshape(taps, (ops.shape(inputs)[0], -1, KERNEL_LENGTH * channels))
        # One matmul: the kernels' weights on each channel of their subset, (9 * C, 84).
        weights = self.kernels[:, None, :] * self.channel_sets[index][None, :, :]
        return ops.matmul(taps, ops.reshape(weights, (KERNEL_LENGTH * channels, len(KERNELS))))

    def call(self, inputs, mask=None):
        inputs = ops.stop_gradient(ops.cast(inputs, "float32"))
        valid = ops.cast(all_valid(inputs) if mask is None else mask, "float32")  # (batch, T)
        steps = ops.shape(inputs)[1]
        positions = ops.arange(steps)
        features = []
        for index, dilation in enumerate(self.dilations):
            c = self.convolutions(inputs, index)  # (batch, T, 84)
            margin = (KERNEL_LENGTH - 1) * dilation // 2
            inside = (positions >= margin) & (positions < steps - margin)
            # (batch, T, 2): every valid step, and those whose receptive field is in the series.
            weights = ops.stack([valid, valid * ops.cast(inside, "float32")], axis=-1)
            weights = weights / ops.maximum(ops.sum(weights, axis=1, keepdims=True), 1.0)
            # Biases compared BIASES_AT_ONCE at a time: (batch, T, 84, BIASES_AT_ONCE) at most.
            ppv = ops.concatenate(
                [
                    ops.einsum("btkc,btm->bkcm", ops.cast(c[..., None] > group, "float32"), weights)
                    for group in _groups(self.biases[index])
                ],
                axis=2,
            )  # (batch, 84, count, 2)
            interior = (index + np.arange(len(KERNELS))) % 2 == 1  # the paper's alternation
            chosen = ops.where(interior[None, :, None], ppv[..., 1], ppv[..., 0])
            features.append(ops.reshape(chosen, (-1, len(KERNELS) * self.counts[index])))
        return ops.concatenate(features, axis=1)

    def adapt(self, inputs: np.ndarray, mask: np.ndarray | None = None, batch_size: int = 64):
        """Set the biases from training cases `inputs` (cases, T, C): for each (dilation,
        kernel), quantiles of its convolution of one random case, over that case's valid steps."""
        if not self.built:
            self.build(inputs.shape)
        rng = np.random.default_rng(self.seed + 1)
        mask = np.ones(inputs.shape[:2], bool) if mask is None else np.asarray(mask, bool)
        levels = quantiles(self.output_size)
        start = 0
        for index, count in enumerate(self.counts):
            cases = rng.integers(len(inputs), size=len(KERNELS))
            # Only the drawn cases are convolved: at most 84 of them, whatever the training set.
            drawn, row = np.unique(cases, return_inverse=True)
            c = np.concatenate([
                np.asarray(self.convolutions(ops.convert_to_tensor(part), index))
                for part in _batches(inputs[drawn].astype("float32"), batch_size)
            ])  # fmt: skip
            biases = np.zeros((len(KERNELS), count), "float32")
            for kernel, case in enumerate(cases):
                values = c[row[kernel], mask[case], kernel]
                wanted = levels[start : start + count]
                biases[kernel] = np.quantile(values, wanted) if len(values) else 0.0
                start += count
            self.biases[index].assign(biases)

    def set_biases(self, biases: np.ndarray) -> None:
        """Set every bias from one vector in aeon's order (dilation, kernel, bias)."""
        start = 0
        for weight, count in zip(self.biases, self.counts, strict=True):
            weight.assign(np.reshape(biases[start : start + len(KERNELS) * count], (-1, count)))
            start += len(KERNELS) * count

    def compute_output_shape(self, input_shape):
        return (input_shape[0], self.output_size)

    def compute_mask(self, inputs, mask=None):
        return None  # features of the whole series, not a sequence

    def get_config(self):
        config = {"length": self.length, "num_features": self.num_features, "seed": self.seed}
        return {**super().get_config(), **config}


# Fewer, larger comparisons trace and export faster (one per bias made a model's SavedModel
# export 7x slower than without the features); this bounds the intermediate's size instead.
BIASES_AT_ONCE = 8


def _groups(biases):
    """(84, count) biases as (84, <= BIASES_AT_ONCE) slices (itself where it is that narrow)."""
    count = biases.shape[1]
    if count <= BIASES_AT_ONCE:
        return [biases]
    return [biases[:, i : i + BIASES_AT_ONCE] for i in range(0, count, BIASES_AT_ONCE)]


def _batches(values: np.ndarray, size: int):
    return (values[i : i + size] for i in range(0, len(values), size))


# Ridge penalties tried by leave-one-out, on features scaled to unit variance: aeon's
# MiniRocketClassifier's own (RidgeClassifierCV over 10 penalties from 1e-3 to 1e3).
RIDGE_ALPHAS = tuple(np.logspace(-3, 3, 10))


def start_at_ridge(model: keras.Model, x: np.ndarray, y: np.ndarray, batch_size: int = 64) -> float:
    """Fit `model`'s MiniRocket features and readout to the training cases `x` (raw inputs)
    and `y` (class indices, or targets in original units), and zero the network's head.
    Returns the ridge penalty leave-one-out chose.

    Classification: ridge regression onto +-1 class indicators (aeon's RidgeClassifierCV), its
    scores times a temperature fitted to the leave-one-out scores, so that the start's
    probabilities are as confident as its held-out scores are right. Regression: ridge
    regression onto the standardised targets.
    """
    from sklearn.linear_model import RidgeCV

    features_layer = model.get_layer("minirocket")
    readout, network = model.get_layer("minirocket_readout"), model.get_layer("head")
    network.set_weights([np.zeros_like(w) for w in network.get_weights()])
    values, mask = model.get_layer("standardize")(ops.convert_to_tensor(x.astype("float32")))
    values, mask = np.asarray(values), np.asarray(mask)
    features_layer.adapt(values, mask, batch_size)
    features = np.concatenate([
        np.asarray(features_layer(ops.convert_to_tensor(v), mask=ops.convert_to_tensor(m)))
        for v, m in zip(_batches(values, batch_size), _batches(mask, batch_size), strict=True)
    ]).astype("float64")  # fmt: skip
    scale = features.std(axis=0) + 1e-8  # unit variance; the mean goes into the intercept
    classification = not any(layer.name == "original_units" for layer in model.layers)
    if classification:
        targets = 2.0 * np.eye(readout.units)[np.asarray(y, int)] - 1.0
    else:
        original = model.get_layer("original_units")
        targets = (np.asarray(y, "float64").reshape(len(x), -1) - original.mean) / original.std
    # With a scoring, RidgeCV keeps each case's leave-one-out prediction (else its error).
    fit = RidgeCV(alphas=RIDGE_ALPHAS, scoring="neg_mean_squared_error", store_cv_results=True)
    fit.fit(features / scale, targets)
    temperature = 1.0
    if classification:
        chosen = list(fit.alphas).index(fit.alpha_)
        temperature = _temperature(fit.cv_results_[..., chosen], np.asarray(y, int))
    kernel = temperature * np.asarray(fit.coef_).reshape(readout.units, -1).T / scale[:, None]
    bias = temperature * np.asarray(fit.intercept_).reshape(readout.units)
    readout.set_weights([kernel.astype("float32"), bias.astype("float32")])
    return float(fit.alpha_)


def _temperature(scores: np.ndarray, labels: np.ndarray) -> float:
    """The factor on held-out ridge scores (cases, classes) that minimises their cross-entropy."""
    from scipy.optimize import minimize_scalar
    from scipy.special import log_softmax

    def loss(log_t: float) -> float:
        picked = log_softmax(np.exp(log_t) * scores, axis=1)[np.arange(len(labels)), labels]
        return -float(np.mean(picked))

    return float(np.exp(minimize_scalar(loss, bounds=(-3.0, 5.0), method="bounded").x))
