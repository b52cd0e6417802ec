"""Load a `.keras` model built by this package, whatever custom layers it holds."""

from __future__ import annotations

import importlib

import keras

from cells.registry import cell_modules

# Every module besides the cells' (cells.registry.cell_modules) that registers a serializable
# class. Keras finds a registered class only once its module has been imported, and `import
# cells` alone imports none of them (lazy names). tests/cells/test_registry.py pins the two
# lists against every class that `cells` registers.
_LAYER_MODULES = (
    "cells.hoisted",
    "cells.model_layers",
    "cells.attention",
    "cells.fcn",
    "cells.downsampling",
    "cells.revin",
    "cells.autoregressive",
    "cells.minirocket",
)


def registering_modules() -> tuple[str, ...]:
    """The modules `register_all` imports: every variant's cell module, then the other layers'."""
    return (*cell_modules(), *_LAYER_MODULES)


def register_all() -> None:
    """Import every module that registers a Keras serializable class of `cells`, and those of
    the cell variants added with `cells.registry.register_variant`."""
    for module in registering_modules():
        importlib.import_module(module)


def load_model(path, compile: bool = True) -> keras.Model:
    """`keras.saving.load_model` with every custom object of `cells` registered first."""
    register_all()
    return keras.saving.load_model(path, compile=compile)
