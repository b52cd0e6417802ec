"""Averaging ensembles: several trained models as one self-contained Keras model.

On small data the top trials of a search tie on the validation objective and differ on the test
set by a point or more; averaging their predictions (class probabilities, or values in original
units) removes most of that seed-to-seed variance (Dietterich 2000, "Ensemble Methods in Machine
Learning"). The result is an ordinary functional model, so it saves, loads in safe mode and serves
like any single model.
"""

from __future__ import annotations

import math

import keras


def average_models(
    models: list[keras.Model], name: str = "ensemble", weights: list[float] | None = None
) -> keras.Model:
    """One model whose output is the mean of `models`' outputs on the same raw input, weighted
    by `weights` (normalised to sum to 1; None: equal weights)."""
    if not models:
        raise ValueError("average_models needs at least one model, but got none.")
    if weights is not None and (
        len(weights) != len(models) or min(weights) <= 0 or not all(map(math.isfinite, weights))
    ):
        raise ValueError(
            f"average_models needs one positive weight per model, but got {list(weights)} "
            f"for {len(models)} models."
        )
    shapes = {tuple(m.output_shape[1:]) for m in models}
    if len(shapes) != 1:
        raise ValueError(f"Averaged models must share one output shape, but got {sorted(shapes)}.")
    if len(models) == 1:
        return models[0]
    inputs = keras.Input(shape=models[0].input_shape[1:], name="raw_input")
    outputs = []
    for index, model in enumerate(models):
        # Layer names must be unique inside a model; models loaded from checkpoints share theirs.
        model.name = f"member_{index}"
        outputs.append(model(inputs))
    if weights is None or len(set(weights)) == 1:
        return keras.Model(inputs, keras.layers.Average(name="average")(outputs), name=name)
    # Built-in layers only, so the weighted ensemble loads in safe mode like the plain one.
    total = float(sum(weights))
    scaled = [
        keras.layers.Rescaling(weight / total, name=f"weight_{index}")(output)
        for index, (weight, output) in enumerate(zip(weights, outputs, strict=True))
    ]
    return keras.Model(inputs, keras.layers.Add(name="average")(scaled), name=name)
