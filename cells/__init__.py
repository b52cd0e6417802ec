"""GRU-extension recurrent cells for Keras 3, and the model builder the search uses.

The Keras-free names (`Architecture`, `Head`, ...) import instantly; the layers import Keras on
first use, so validating a spec does not pay for a TensorFlow import. Because of that, `import
cells` alone registers no Keras class: load saved models with `cells.load_model(path)` (or call
`cells.register_all()` before `keras.saving.load_model`).
"""

from __future__ import annotations

import importlib

from cells.architecture import ATTENTIONS, FCN_KINDS, HEAD_KINDS, VARIANTS, Architecture, Head
from cells.backend import choose_backend as _choose_backend
from cells.registry import LAZY_CELL_NAMES, CellVariant, register_variant

# JAX where TensorFlow is not installed and no backend is named (cells.backend says why here).
_choose_backend()

# name -> module that defines it; imported lazily on first attribute access. The cell classes
# come from their declarations in cells.registry.
_LAZY = {
    "build_model": "cells.builder",
    "compile_model": "cells.builder",
    "load_model": "cells.loading",
    "average_models": "cells.ensemble",
    "register_all": "cells.loading",
    "make_cell": "cells.recurrent",
    "HoistedCell": "cells.base",
    "HoistedRNN": "cells.hoisted",
    **LAZY_CELL_NAMES,
    "NanPaddingStandardization": "cells.model_layers",
    "Destandardization": "cells.model_layers",
    "LastValidStep": "cells.model_layers",
    "FeatureMap": "cells.model_layers",
    "AttentionRNN": "cells.attention_wrapper",
    "BahdanauAttention": "cells.attention_mechanisms",
    "LuongAttention": "cells.attention_mechanisms",
    "AttentionPooling": "cells.attention_pooling",
    "FullyConvolutionalBranch": "cells.fcn",
    "MiniRocketFeatures": "cells.minirocket",
    "SqueezeExcite": "cells.fcn",
    "Downsampling": "cells.downsampling",
    "ReversibleInstanceNormalization": "cells.revin",
    "AutoregressiveHighway": "cells.autoregressive",
}

__all__ = [
    "ATTENTIONS",
    "FCN_KINDS",
    "HEAD_KINDS",
    "VARIANTS",
    "Architecture",
    "CellVariant",
    "Head",
    "register_variant",
    *_LAZY,
]


def __getattr__(name: str):
    if name in _LAZY:
        value = getattr(importlib.import_module(_LAZY[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'cells' has no attribute {name!r}")
