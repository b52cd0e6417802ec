"""Load a `.keras` model built by this package, whatever custom layers it holds."""

from __future__ import annotations

import importlib

import keras

# Every module that registers a serializable class. Keras finds a registered class only once
# its module has been imported, and `import cells` alone imports none of them (lazy names).
_REGISTERING_MODULES = (
    "cells.minimal",
    "cells.mgu",
    "cells.layernorm_gru",
    "cells.conv_gru",
    "cells.hoisted",
    "cells.model_layers",
    "cells.attention",
)


def register_all() -> None:
    """Import every module of `cells` that registers a Keras serializable class."""
    for module in _REGISTERING_MODULES:
        importlib.import_module(module)


def load_model(path, compile: bool = True) -> keras.Model:
    """`keras.saving.load_model` with every custom object of `cells` registered first."""
    register_all()
    return keras.saving.load_model(path, compile=compile)
