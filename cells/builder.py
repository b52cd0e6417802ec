"""`build_model` and `compile_model`: from an `Architecture` and a `Head` to a Keras model.

Layout of every model (docs/CONTRACTS.md); the bracketed steps are off by default:

    raw (batch, steps, features), NaN = padding
      -> NanPaddingStandardization           values (NaN -> 0) and a (batch, steps) mask
      -> [RevIN normalisation]               revin: each series (window) by its own statistics
      |-> [FCN branch]                       fcn: conv blocks (+ squeeze-excite), full resolution,
      |                                      mean over the valid steps -> (batch, fcn_filters)
      -> [strided Conv1D downsampling]       downsample > 1: ceil(steps / downsample) steps,
                                             the mask downsampled with them
      -> [causal Conv1D front-end]           frontend_kernel > 0
      -> [dimension shuffle]                 dimension_shuffle: (batch, channels, steps), one
                                             step per channel, no mask (padding reads as 0);
                                             the conv cells then convolve along time
      -> recurrent stack, depth layers       dropout on each layer's input, residual if widths match
      -> last state | attention pooling | attention wrapper on the top layer
      -> [concatenate the FCN branch]
      -> head                                softmax probabilities, or values in standard units
         [+ MiniRocket readout]              minirocket: a frozen ridge readout of MiniRocket's
                                             features of the standardised input, added to the
                                             head's logits (or standardised values)
      -> [RevIN de-normalisation]            revin, forecasting: the target channels' window
                                             statistics (the other heads only normalise)
      -> [+ AR highway]                      ar_highway > 0, forecasting: linear model over the
                                             last ar_highway standardised steps of each target
                                             (with revin: less the window's mean)
      -> original units                      regression and forecasting

Width: `units` is the hidden size of every variant. The conv variants' state is a
(features, filters) map, so they get filters = max(1, ceil(units / features)) per position
(`cells.registry.conv_filters`): about `units` values per step, like the other variants. The
convolutions in front of them (downsampling, front-end) keep `features` channels, so the
feature axis stays their spatial axis; for the other variants they have `units` channels.

Forecasting: the first `head.num_outputs` input features are the target series, standardised
with the statistics that de-standardise the forecast (search.data guarantees both), so the
RevIN statistics of those channels and the AR highway's inputs are the forecast's own units.

The mask is passed explicitly to every layer that reads it, because convolutions do not
propagate Keras masks.
"""

from __future__ import annotations

import keras
import numpy as np

from cells.architecture import Architecture, Head
from cells.autoregressive import AutoregressiveHighway
from cells.downsampling import Downsampling
from cells.fcn import FullyConvolutionalBranch
from cells.minirocket import MiniRocketFeatures
from cells.model_layers import (
    Destandardization,
    FeatureMap,
    LastValidStep,
    NanPaddingStandardization,
)
from cells.recurrent import attention_layer, pooling_layer, recurrent_layer
from cells.registry import get_variant
from cells.revin import ReversibleInstanceNormalization


def _check_input_shape(input_shape) -> tuple[int | None, int]:
    shape = tuple(input_shape)
    ok = len(shape) == 2 and (shape[0] is None or int(shape[0]) >= 1) and int(shape[1]) >= 1
    if not ok:
        raise ValueError(
            f"input_shape must be (steps or None, features) with positive sizes, but got {shape!r}."
        )
    return (None if shape[0] is None else int(shape[0])), int(shape[1])


def build_model(
    architecture: Architecture,
    input_shape: tuple[int | None, int],
    head: Head,
    *,
    feature_mean: np.ndarray | None = None,
    feature_std: np.ndarray | None = None,
    series_length: int | None = None,
) -> keras.Model:
    """An uncompiled model taking raw (batch, steps, features) float32 input; see the module doc.

    `series_length` is the length MiniRocket's dilations are chosen for (`minirocket` only):
    the input's steps unless given, and it must be given for series of several lengths."""
    arch = architecture
    steps, features = _check_input_shape(input_shape)
    _check_head(arch, head, steps, features)
    inputs = keras.Input((steps, features), name="series")
    x, mask = NanPaddingStandardization(
        feature_mean, feature_std, num_features=features, name="standardize"
    )(inputs)
    standardized, full_mask = x, mask  # (batch, steps, features), (batch, steps)

    revin = statistics = None
    if arch.revin:
        revin = ReversibleInstanceNormalization(name="revin")
        x, statistics = revin(x, mask=mask)
    branch = None
    if arch.fcn != "none":
        branch = FullyConvolutionalBranch(
            arch.fcn_filters, squeeze_excite=arch.fcn == "se_fcn", name="fcn"
        )(x, mask=mask)  # (batch, fcn_filters)

    conv = get_variant(arch.variant).convolutional
    # Conv variants keep the feature axis as their spatial axis, so keep its width there.
    width = features if conv else arch.units
    if arch.downsample > 1:
        x, mask = Downsampling(arch.downsample, width, name="downsample")(x, mask=mask)
    if arch.frontend_kernel:
        x = keras.layers.Conv1D(
            width, arch.frontend_kernel, padding="causal", activation="relu", name="frontend"
        )(x)

    # The conv cells' spatial axis: the channels, or under the shuffle the (downsampled) time.
    length = features
    if arch.dimension_shuffle:
        if steps is None:
            raise ValueError(
                "dimension_shuffle makes each step's width the series length, so it needs "
                "series of one length, but input_shape has steps=None."
            )
        x, mask = keras.layers.Permute((2, 1), name="dimension_shuffle")(x), None
        length = int(x.shape[-1])

    wrapped_top = arch.attention in ("bahdanau", "luong")
    for index in range(arch.depth):
        top = index == arch.depth - 1
        return_sequences = not top or arch.attention == "pooling"
        skip = x  # (batch, steps, width): this layer's input, flat per step
        if conv:
            # (batch, steps, length * channels) -> (batch, steps, length, channels)
            x = FeatureMap(length, name=f"feature_map_{index}")(x)
        if arch.dropout:
            x = keras.layers.Dropout(arch.dropout, name=f"dropout_{index}")(x)
        if top and wrapped_top:
            layer = attention_layer(arch, False, f"recurrent_{index}", features=length)
        else:
            layer = recurrent_layer(arch, return_sequences, f"recurrent_{index}", features=length)
        if arch.bidirectional:
            layer = keras.layers.Bidirectional(layer, name=f"bidirectional_{index}")
        y = layer(x, mask=mask)  # (batch, steps, width) or (batch, width)
        if arch.residual and index > 0 and y.shape[-1] == skip.shape[-1]:
            if not return_sequences:
                skip = LastValidStep(name=f"last_step_{index}")(skip, mask=mask)
            y = keras.layers.Add(name=f"residual_{index}")([y, skip])
        x = y

    if arch.attention == "pooling":
        x = pooling_layer(arch, name="attention_pooling")(x, mask=mask)
    if branch is not None:
        x = keras.layers.Concatenate(name="fcn_concat")([x, branch])
    highway = None
    if arch.ar_highway:
        # Under RevIN the lags are read as deviations from the window's mean (RevIN adds the
        # mean back), so the linear part follows each window's level: read as levels, its fit
        # had 2.7x the validation MSE on Airline (24 lags) and 5-11 % more on PBS_dataset; on the
        # stationary series it was up to 7 % better, and `revin: false` serves those best
        # (benchmarks/highway_level.py).
        level = None if statistics is None else statistics[0]
        highway = AutoregressiveHighway(
            arch.ar_highway, head.horizon, head.num_outputs, name="ar_highway"
        )(standardized, mask=full_mask, level=level)  # (batch, horizon, num_outputs)
    readout = None
    if arch.minirocket:
        readout = _minirocket_readout(standardized, full_mask, head, series_length or steps)
    reversed_revin = revin is not None and head.kind == "forecasting"
    denormalize = (lambda y: revin(y, statistics=statistics)) if reversed_revin else None
    outputs = _head(x, head, denormalize=denormalize, highway=highway, readout=readout)
    return keras.Model(inputs, outputs, name=f"{arch.variant}_{head.kind}")


def _check_head(arch: Architecture, head: Head, steps: int | None, features: int) -> None:
    arch.check_head(head)
    reads_targets = head.kind == "forecasting" and (arch.revin or arch.ar_highway)
    if reads_targets and features < head.num_outputs:
        raise ValueError(
            f"revin and ar_highway read the first {head.num_outputs} input features as the "
            f"target series (head.num_outputs), but the input has only {features} features."
        )
    if steps is not None and arch.ar_highway > steps:
        raise ValueError(
            f"ar_highway={arch.ar_highway} looks further back than the {steps} input steps; "
            f"use at most {steps}."
        )


# MiniRocket's features per model: a quarter of the paper's 10,000. A default search registers an
# ensemble of up to 25 such models (5 trials x 5 folds), and the features are most of their cost.
# Ridge on aeon's MiniRocket features, 3 inner 75/25 cuts of training splits (2026-12-03): ACSF1
# 0.760 with 2,500 vs 0.773 with 10,000, Pickup 0.513 vs 0.487, OSULeaf 0.940 vs 0.953, GunPoint
# and ArrowHead (outside the table) equal; with 1,000, ArrowHead lost 4 points.
MINIROCKET_FEATURES = 2_500


def _minirocket_readout(standardized, mask, head: Head, length: int | None):
    """(batch, num_outputs): the frozen linear readout of MiniRocket's features, which
    `cells.minirocket.start_at_ridge` fits; until then its features and readout are 0."""
    if length is None:
        raise ValueError(
            "minirocket chooses its dilations for one series length, but the input's steps "
            "vary; pass series_length (the padded length) to build_model."
        )
    seed = int(np.random.randint(2**31))  # drawn under the trial's seed, kept in the config
    features = MiniRocketFeatures(
        length, num_features=MINIROCKET_FEATURES, seed=seed, name="minirocket"
    )(standardized, mask=mask)
    return keras.layers.Dense(
        head.num_outputs, trainable=False, kernel_initializer="zeros", name="minirocket_readout"
    )(features)


def _head(summary, head: Head, *, denormalize=None, highway=None, readout=None):
    """The prediction from the summary (batch, width). For forecasting, `denormalize` (RevIN's
    inverse) is applied to the network's forecast and `highway` (batch, horizon, num_outputs)
    added to it, both in standard units, before the output goes back to original units.
    `readout` (batch, num_outputs), MiniRocket's, is added to the classification logits or the
    standardised regression values."""
    if head.kind == "classification" and readout is None:
        return keras.layers.Dense(
            head.num_outputs, activation="softmax", dtype="float32", name="probabilities"
        )(summary)
    if head.kind == "classification":
        logits = keras.layers.Dense(head.num_outputs, name="head")(summary)
        logits = keras.layers.Add(name="plus_minirocket")([logits, readout])
        return keras.layers.Activation("softmax", dtype="float32", name="probabilities")(logits)
    size = head.num_outputs * (head.horizon if head.kind == "forecasting" else 1)
    outputs = keras.layers.Dense(size, name="head")(summary)
    if readout is not None:
        outputs = keras.layers.Add(name="plus_minirocket")([outputs, readout])
    if head.kind == "forecasting":
        outputs = keras.layers.Reshape((head.horizon, head.num_outputs), name="horizon")(outputs)
        if denormalize is not None:
            outputs = denormalize(outputs)
        if highway is not None:
            outputs = keras.layers.Add(name="plus_highway")([outputs, highway])
    return Destandardization(
        head.target_mean, head.target_std, num_outputs=head.num_outputs, name="original_units"
    )(outputs)


def compile_model(
    model: keras.Model,
    head: Head,
    learning_rate: float,
    clipnorm: float = 1.0,
    *,
    decay_steps: int | None = None,
    jit_compile: bool | str = "auto",
) -> keras.Model:
    """Compile with Adam and the head's loss: sparse categorical crossentropy + accuracy for
    classification, MSE + MAE (in original units) otherwise. Returns the model.

    With `decay_steps`, the learning rate follows a cosine from `learning_rate` down to 0 over
    that many updates (SGDR without restarts: Loshchilov & Hutter 2017, arXiv:1608.03983), and
    stays at 0 after them.

    `jit_compile="auto"` is Keras' choice (XLA on JAX, off on TensorFlow), except that a model
    holding an `AttentionRNN` on TensorFlow gets XLA: its loop is many small ops per step,
    and XLA fuses them (see `attention_jit_compile`)."""
    if not (isinstance(learning_rate, int | float) and learning_rate > 0):
        raise ValueError(f"learning_rate must be a positive number, but got {learning_rate!r}.")
    rate = float(learning_rate)
    if decay_steps is not None:
        if not (isinstance(decay_steps, int) and decay_steps >= 1):
            raise ValueError(f"decay_steps must be a positive integer, but got {decay_steps!r}.")
        rate = keras.optimizers.schedules.CosineDecay(rate, decay_steps=decay_steps)
    optimizer = keras.optimizers.Adam(learning_rate=rate, clipnorm=clipnorm)
    if head.kind == "classification":
        loss, metrics = "sparse_categorical_crossentropy", ["accuracy"]
    else:
        loss, metrics = "mse", ["mae"]
    if jit_compile == "auto" and attention_jit_compile(model):
        jit_compile = True
    model.compile(optimizer=optimizer, loss=loss, metrics=metrics, jit_compile=jit_compile)
    return model


def attention_jit_compile(model: keras.Model) -> bool:
    """Whether `compile_model` turns XLA on where Keras' "auto" would leave it off: on
    TensorFlow, for a model with an attention wrapper. Measured on the shared 2-core CPU
    (benchmarks/cells.py), gru+luong and gru+bahdanau train faster per step under XLA."""
    from cells.attention_wrapper import AttentionRNN

    if keras.backend.backend() != "tensorflow":
        return False
    return any(
        isinstance(layer, AttentionRNN)
        or isinstance(getattr(layer, "forward_layer", None), AttentionRNN)
        for layer in model.layers
    )
