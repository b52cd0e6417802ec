"""`build_model` and `compile_model`: from an `Architecture` and a `Head` to a Keras model.

Layout of every model (docs/CONTRACTS.md):

    raw (batch, steps, features), NaN = padding
      -> NanPaddingStandardization           values (NaN -> 0) and a (batch, steps) mask
      -> causal Conv1D front-end             if frontend_kernel > 0
      -> recurrent stack, depth layers       dropout on each layer's input, residual if widths match
      -> last state | attention pooling | attention wrapper on the top layer
      -> head                                softmax probabilities, or values in original units

Width: `units` is the hidden size of every variant. The conv variants' state is a
(features, filters) map, so they get filters = max(1, ceil(units / features)) per position
(`cells.recurrent.conv_filters`): about `units` values per step, like the other variants.

The mask is passed explicitly to every recurrent layer, because the Conv1D front-end does not
propagate Keras masks.
"""

from __future__ import annotations

import keras
import numpy as np

from cells.architecture import Architecture, Head
from cells.model_layers import (
    Destandardization,
    FeatureMap,
    LastValidStep,
    NanPaddingStandardization,
)
from cells.recurrent import CONV_VARIANTS, attention_layer, pooling_layer, recurrent_layer


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
) -> keras.Model:
    """An uncompiled model taking raw (batch, steps, features) float32 input; see the module doc."""
    arch = architecture
    steps, features = _check_input_shape(input_shape)
    inputs = keras.Input((steps, features), name="series")
    x, mask = NanPaddingStandardization(
        feature_mean, feature_std, num_features=features, name="standardize"
    )(inputs)

    conv = arch.variant in CONV_VARIANTS
    if arch.frontend_kernel:
        # Conv variants keep the feature axis as their spatial axis, so keep its width there.
        filters = features if conv else arch.units
        x = keras.layers.Conv1D(
            filters, arch.frontend_kernel, padding="causal", activation="relu", name="frontend"
        )(x)

    wrapped_top = arch.attention in ("bahdanau", "luong")
    for index in range(arch.depth):
        top = index == arch.depth - 1
        return_sequences = not top or arch.attention == "pooling"
        skip = x  # (batch, steps, width): this layer's input, flat per step
        if conv:
            # (batch, steps, length * channels) -> (batch, steps, length, channels)
            x = FeatureMap(features, name=f"feature_map_{index}")(x)
        if arch.dropout:
            x = keras.layers.Dropout(arch.dropout, name=f"dropout_{index}")(x)
        if top and wrapped_top:
            layer = attention_layer(arch, False, f"recurrent_{index}", features=features)
        else:
            layer = recurrent_layer(arch, return_sequences, f"recurrent_{index}", features=features)
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
    outputs = _head(x, head)
    return keras.Model(inputs, outputs, name=f"{arch.variant}_{head.kind}")


def _head(features, head: Head):
    if head.kind == "classification":
        return keras.layers.Dense(
            head.num_outputs, activation="softmax", dtype="float32", name="probabilities"
        )(features)
    size = head.num_outputs * (head.horizon if head.kind == "forecasting" else 1)
    outputs = keras.layers.Dense(size, name="head")(features)
    if head.kind == "forecasting":
        outputs = keras.layers.Reshape((head.horizon, head.num_outputs), name="horizon")(outputs)
    return Destandardization(
        head.target_mean, head.target_std, num_outputs=head.num_outputs, name="original_units"
    )(outputs)


def compile_model(
    model: keras.Model,
    head: Head,
    learning_rate: float,
    clipnorm: float = 1.0,
    *,
    jit_compile: bool | str = "auto",
) -> keras.Model:
    """Compile with Adam and the head's loss: sparse categorical crossentropy + accuracy for
    classification, MSE + MAE (in original units) otherwise. Returns the model.

    `jit_compile="auto"` is Keras' choice (XLA on JAX, off on TensorFlow), except that a model
    holding an `AttentionRNN` on TensorFlow gets XLA: its loop is many small ops per step,
    and XLA fuses them (see `attention_jit_compile`)."""
    if not (isinstance(learning_rate, int | float) and learning_rate > 0):
        raise ValueError(f"learning_rate must be a positive number, but got {learning_rate!r}.")
    optimizer = keras.optimizers.Adam(learning_rate=float(learning_rate), clipnorm=clipnorm)
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
