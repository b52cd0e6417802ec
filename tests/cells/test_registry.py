"""cells.registry: the built-in declarations, a variant added in one place, and the modules
that register the cells for loading pinned against every class that `cells` registers."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import keras
import numpy as np
import pytest

import cells
from cells import Architecture, Head
from cells.hoisted import HoistedRNN
from cells.loading import registering_modules
from cells.registry import (
    CONV_VARIANTS,
    VARIANTS,
    CellVariant,
    default_cells,
    get_variant,
    register_variant,
    unregister_variant,
    variant_names,
    variants_with,
)
from tests.cells.cases import CASE_IDS
from tests.cells.toy_cell import TOY, ToyCell, toy_variant

CLASSIFY = Head("classification", 3)


def test_the_built_in_declarations_give_the_lists_the_package_had():
    assert VARIANTS == ("gru", "minimal", "mgu", "layernorm", "convgru", "sepconvgru")
    assert cells.VARIANTS == VARIANTS and variant_names() == VARIANTS
    assert CONV_VARIANTS == ("convgru", "sepconvgru")
    assert default_cells() == ["gru", "mgu", "minimal", "layernorm"]
    assert variants_with("reset_after") == ("gru",)
    assert variants_with("conv_kernel") == ("convgru", "sepconvgru")
    assert [v for v in VARIANTS if get_variant(v).fused] == ["gru"]


def test_every_built_in_custom_cell_has_a_numpy_reference_case():
    custom = [v for v in VARIANTS if not get_variant(v).fused]
    assert set(custom) <= set(CASE_IDS), "add the cell's NumPy reference to tests/cells/cases.py"


def test_a_variant_registered_in_one_place_builds_saves_and_loads(tmp_path):
    with toy_variant():
        arch = Architecture(variant="toy", units=4, depth=2, attention="pooling")
        keras.utils.set_random_seed(0)
        model = cells.build_model(arch, (None, 3), CLASSIFY)
        layer = model.get_layer("recurrent_1")
        assert isinstance(layer, HoistedRNN) and isinstance(layer.cell, ToyCell)
        x = np.random.default_rng(0).normal(size=(2, 5, 3)).astype("float32")
        expected = np.asarray(model(x))
        path = tmp_path / "toy.keras"
        model.save(path)
        loaded = cells.load_model(path)
        assert isinstance(loaded.get_layer("recurrent_1").cell, ToyCell)
        np.testing.assert_allclose(np.asarray(loaded(x)), expected, atol=1e-6)
        assert cells.make_cell(arch).units == 4
    assert "toy" not in variant_names()
    with pytest.raises(ValueError, match="variant must be one of .* but got 'toy'"):
        Architecture(variant="toy")


def test_a_registered_variant_is_loaded_by_register_all_and_reads_its_options():
    def make(cell_class, arch, features):
        return cell_class(arch.units * features + arch.conv_kernel)

    convolutional = CellVariant(
        "toy_conv", ToyCell, make=make, options=("conv_kernel",), convolutional=True
    )
    with toy_variant(convolutional):
        assert "tests.cells.toy_cell" in registering_modules()
        assert variants_with("conv_kernel") == ("convgru", "sepconvgru", "toy_conv")
        arch = Architecture(variant="toy_conv", units=2, conv_kernel=5)
        assert cells.make_cell(arch, features=3).units == 11
        with pytest.raises(ValueError, match="'toy_conv' needs the number of features"):
            cells.make_cell(arch)
        model = cells.build_model(arch, (None, 3), CLASSIFY)
        # A convolutional variant reads each step as a (features, channels) map.
        assert model.get_layer("feature_map_0").output.shape == (None, None, 3, 1)
    assert "tests.cells.toy_cell" not in registering_modules()


def test_declarations_and_registrations_are_checked():
    with pytest.raises(ValueError, match="cell must be a class or 'module:Class'"):
        CellVariant("toy", "tests.cells.toy_cell.ToyCell")
    with pytest.raises(ValueError, match=r"options must be a tuple of \('reset_after', "):
        CellVariant("toy", ToyCell, options=("units",))
    with pytest.raises(ValueError, match="name must be an identifier"):
        CellVariant("a toy", ToyCell)
    with pytest.raises(ValueError, match="'gru' is already registered; pick another name"):
        register_variant(CellVariant("gru", ToyCell))
    with pytest.raises(TypeError, match="takes a CellVariant, but got 'toy'"):
        register_variant("toy")
    with pytest.raises(ValueError, match="'mgu' is a built-in cell variant"):
        unregister_variant("mgu")
    with pytest.raises(ValueError, match="Unknown cell variant 'toy'; expected one of gru, "):
        get_variant("toy")
    with toy_variant(), pytest.raises(ValueError, match="'toy' is already registered"):
        register_variant(TOY)
    assert variant_names() == VARIANTS


# In a fresh process: what `register_all` alone registers, then what importing every module of
# `cells` registers, and the registered classes each of register_all's modules holds.
REGISTRATIONS = textwrap.dedent(
    """
    import importlib, json, pkgutil
    import keras
    import cells
    from cells.loading import registering_modules

    def registered():
        return {k: v for k, v in keras.saving.get_custom_objects().items() if k.startswith("cells>")}

    def held(cls, module):  # by identity: a module may hold NumPy arrays, which `in` compares
        return any(value is cls for value in vars(module).values())

    cells.register_all()
    by_register_all = registered()
    for module in pkgutil.iter_modules(cells.__path__):
        importlib.import_module(f"cells.{module.name}")
    every = registered()
    holds = {
        name: sorted(k for k, c in every.items() if held(c, importlib.import_module(name)))
        for name in registering_modules()
    }
    print(json.dumps({"register_all": sorted(by_register_all), "every": sorted(every), "holds": holds}))
    """
)


def test_register_all_imports_every_module_that_registers_a_class_of_cells():
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"}
    done = subprocess.run(
        [sys.executable, "-c", REGISTRATIONS], capture_output=True, text=True, env=env
    )
    assert done.returncode == 0, done.stderr[-2000:]
    found = json.loads(done.stdout.splitlines()[-1])
    missing = sorted(set(found["every"]) - set(found["register_all"]))
    assert not missing, (
        f"cells.register_all() does not register {missing}: add a cell's declaration to "
        "cells.registry, another layer's module to cells.loading._LAYER_MODULES."
    )
    stale = [name for name, held in found["holds"].items() if not held]
    assert not stale, f"{stale} register no class of cells"
    for name in VARIANTS:
        variant = get_variant(name)
        if variant.module.startswith("cells."):
            # Registered under its own class name, which is also a lazy name of `cells`.
            assert f"cells>{variant.class_name}" in found["every"]
            assert getattr(cells, variant.class_name) is variant.cell_class()
