"""The public surface of `cells` changes only on purpose, and stays cheap to import."""

from __future__ import annotations

import os
import subprocess
import sys

import cells
from cells.registry import LAZY_CELL_NAMES

# The cell classes come from their declarations in cells.registry (LAZY_CELL_NAMES), so a new
# built-in variant adds its class here without an edit.
EXPECTED = {
    "ATTENTIONS",
    "FCN_KINDS",
    "HEAD_KINDS",
    "VARIANTS",
    "Architecture",
    "CellVariant",
    "Head",
    "register_variant",
    "build_model",
    "compile_model",
    "load_model",
    "average_models",
    "register_all",
    "make_cell",
    "HoistedCell",
    "HoistedRNN",
    *LAZY_CELL_NAMES,
    "NanPaddingStandardization",
    "Destandardization",
    "LastValidStep",
    "FeatureMap",
    "AttentionRNN",
    "BahdanauAttention",
    "LuongAttention",
    "AttentionPooling",
    "FullyConvolutionalBranch",
    "SqueezeExcite",
    "Downsampling",
    "ReversibleInstanceNormalization",
    "AutoregressiveHighway",
    "MiniRocketFeatures",
}


def test_all_is_pinned():
    assert set(LAZY_CELL_NAMES) == {
        "MinimalRNNCell",
        "MGUCell",
        "LayerNormGRUCell",
        "ConvGRU1DCell",
    }
    assert set(cells.__all__) == EXPECTED
    assert len(cells.__all__) == len(set(cells.__all__))


def test_every_public_name_resolves():
    for name in cells.__all__:
        assert getattr(cells, name) is not None, name


def test_keras_free_names_do_not_import_keras():
    code = "import sys, cells; cells.Architecture(); assert 'keras' not in sys.modules"
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"}
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env)
    assert done.returncode == 0, done.stderr[-2000:]
