"""The cells under test, their input shapes and their NumPy reference steps."""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np

from cells.conv_gru import ConvGRU1DCell
from cells.layernorm_gru import LayerNormGRUCell
from cells.mgu import MGUCell
from cells.minimal import MinimalRNNCell
from tests.cells import numpy_reference as ref

BATCH, STEPS = 3, 6


@dataclass(frozen=True)
class CellCase:
    name: str
    make: object  # () -> cell
    step_shape: tuple[int, ...]  # one step's input shape, without the batch axis
    reference: object  # (x_t, h, weights) -> h_next, in NumPy

    def inputs(self, seed: int = 0, steps: int = STEPS) -> np.ndarray:
        rng = np.random.default_rng(seed)
        return rng.normal(size=(BATCH, steps, *self.step_shape)).astype("float32")


CASES = [
    CellCase("minimal", lambda: MinimalRNNCell(5), (4,), ref.minimal_step),
    CellCase("mgu", lambda: MGUCell(5), (4,), ref.mgu_step),
    CellCase("layernorm", lambda: LayerNormGRUCell(5), (4,), ref.layernorm_gru_step),
    CellCase(
        "layernorm_off",
        lambda: LayerNormGRUCell(5, layer_norm=False),
        (4,),
        functools.partial(ref.layernorm_gru_step, layer_norm=False),
    ),
    CellCase(
        "convgru",
        lambda: ConvGRU1DCell(3, kernel_size=3),
        (6, 2),
        functools.partial(ref.conv_gru_step, filters=3),
    ),
    CellCase(
        "sepconvgru",
        lambda: ConvGRU1DCell(3, kernel_size=2, separable=True),
        (6, 2),
        functools.partial(ref.conv_gru_step, filters=3, separable=True),
    ),
]
CASE_IDS = [case.name for case in CASES]


def randomize(cell, seed: int = 0) -> dict[str, np.ndarray]:
    """Give every weight seeded random values (constant weights hide swapped gates)."""
    rng = np.random.default_rng(seed)
    weights = {}
    for variable in cell.weights:
        value = rng.normal(0.0, 0.5, size=variable.shape).astype("float32")
        variable.assign(value)
        weights[variable.name] = value.astype("float64")
    return weights


def built_cell(case: CellCase, seed: int = 0):
    cell = case.make()
    cell.build((None, *case.step_shape))
    return cell, randomize(cell, seed)
