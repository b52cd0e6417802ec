"""The declarative search space. Pure Python: no Keras, keras-tuner, Ray or MLflow imports.

`space.keras_tuner.declare(space, hp)` maps a space into a keras-tuner `HyperParameters` that
the caller creates; it is a submodule so that importing `space` stays free of keras-tuner.
"""

from space.parameters import Boolean, Choice, Condition, Fixed, FloatRange, IntRange, Parameter
from space.space import TRAINING_PARAMETERS, Space

__all__ = [
    "TRAINING_PARAMETERS",
    "Boolean",
    "Choice",
    "Condition",
    "Fixed",
    "FloatRange",
    "IntRange",
    "Parameter",
    "Space",
]
