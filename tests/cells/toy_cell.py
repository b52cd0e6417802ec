"""A toy variant in one place: its cell and its declaration, registered only inside `toy_variant`.

The cell is an Elman RNN (Elman 1990) on the project's base cell, in `keras.ops` only:

    h_t = tanh(W x_t + U h_{t-1} + b)
"""

from __future__ import annotations

import contextlib

import keras
from keras import ops

from cells.base import UnitsCell
from cells.registry import CellVariant, register_variant, unregister_variant


@keras.saving.register_keras_serializable(package="tests", name="ToyCell")
class ToyCell(UnitsCell):
    """Elman cell: weights `kernel` W (input_dim, units), `recurrent_kernel` U (units, units),
    `bias` b (units,)."""

    @property
    def projection_size(self) -> int:
        return self.units

    def build(self, input_shape):
        self.kernel = self._kernel("kernel", (input_shape[-1], self.units))
        self.recurrent_kernel = self._kernel("recurrent_kernel", (self.units,) * 2, recurrent=True)
        self.bias = self._bias((self.units,))

    def project_inputs(self, inputs):
        return ops.matmul(inputs, self.kernel) + self.bias  # (..., units)

    def step(self, projected, states, constants=None, training=False):
        h_prev = self._previous_state(states)  # (batch, units)
        h = ops.tanh(ops.matmul(h_prev, self.recurrent_kernel) + projected)  # (batch, units)
        return h, [h]


# The one declaration: no default_rank, so only a space that names `toy` searches it.
TOY = CellVariant("toy", ToyCell)


@contextlib.contextmanager
def toy_variant(variant: CellVariant = TOY):
    """`variant` registered for the duration of the block (tests leave the registry as found)."""
    register_variant(variant)
    try:
        yield variant
    finally:
        unregister_variant(variant.name)
