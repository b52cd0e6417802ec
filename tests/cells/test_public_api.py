"""The public surface of `cells` changes only on purpose, and stays cheap to import."""

from __future__ import annotations

import os
import subprocess
import sys

import cells

EXPECTED = {
    "ATTENTIONS",
    "HEAD_KINDS",
    "VARIANTS",
    "Architecture",
    "Head",
    "build_model",
    "compile_model",
    "load_model",
    "average_models",
    "register_all",
    "make_cell",
    "HoistedCell",
    "HoistedRNN",
    "MinimalRNNCell",
    "MGUCell",
    "LayerNormGRUCell",
    "ConvGRU1DCell",
    "NanPaddingStandardization",
    "Destandardization",
    "LastValidStep",
    "FeatureMap",
    "AttentionRNN",
    "BahdanauAttention",
    "LuongAttention",
    "AttentionPooling",
}


def test_all_is_pinned():
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
