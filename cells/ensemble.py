"""Averaging ensembles: several trained models as one self-contained Keras model.

On small data the top trials of a search tie on the validation objective and differ on the test
set by a point or more; averaging their predictions (class probabilities, or values in original
units) removes most of that seed-to-seed variance (Dietterich 2000, "Ensemble Methods in Machine
Learning"). The result is an ordinary functional model, so it saves, loads in safe mode and serves
like any single model.
"""

from __future__ import annotations

import keras


def average_models(models: list[keras.Model], name: str = "ensemble") -> keras.Model:
    """One model whose output is the mean of `models`' outputs on the same raw input."""
    if not models:
        raise ValueError("average_models needs at least one model, but got none.")
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
    return keras.Model(inputs, keras.layers.Average(name="average")(outputs), name=name)
