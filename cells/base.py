"""The split every custom cell follows: an input projection, then a recurrent step.

A cell that multiplies `x_t` by its input kernel inside the loop pays one small matmul per step
for work that does not depend on the state. Splitting the cell lets `HoistedRNN` compute
`project_inputs` once over the whole sequence (one big matmul) and run only `step` in the loop;
that took a custom cell from 1.56x to 1.02x of cuDNN on an H100 (shared/anchors.md).
The cell's own `call` is `step(project_inputs(x_t))`, so it still works one step at a time in
`keras.layers.RNN`, `keras.layers.StackedRNNCells` or an attention wrapper.
"""

from __future__ import annotations

import keras
from keras import ops


class HoistedCell(keras.layers.Layer):
    """Base class of the custom cells: `call(x_t, states) == step(project_inputs(x_t), states)`.

    Subclasses set `state_size`/`output_size` (ints; Keras' `RNN` accepts nothing else;
    `UnitsCell` below does it for a `units`-wide state), `projection_size` (the width
    `project_inputs` returns), and implement `project_inputs` and `step`; `loop_constants`
    optionally derives tensors from the weights once per sequence (outside the loop), which
    `step` receives as `constants`. Dropout is deliberately not part of the cells: the builder
    applies it to each layer's inputs, which keeps the step free of per-step random masks.
    """

    def __init__(
        self,
        kernel_initializer="glorot_uniform",
        recurrent_initializer="orthogonal",
        bias_initializer="zeros",
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.kernel_initializer = keras.initializers.get(kernel_initializer)
        self.recurrent_initializer = keras.initializers.get(recurrent_initializer)
        self.bias_initializer = keras.initializers.get(bias_initializer)

    @property
    def projection_size(self) -> int:
        raise NotImplementedError

    def project_inputs(self, inputs):
        """Everything that depends on the input only; works on one step or a whole sequence."""
        raise NotImplementedError

    def loop_constants(self):
        """Tensors computed from the weights alone, once per sequence before the loop."""
        return None

    def step(self, projected, states, constants=None, training=False):
        """The recurrent part: `projected` is one step of `project_inputs`' output and
        `constants` is what `loop_constants` returned."""
        raise NotImplementedError

    def call(self, inputs, states, training=False):
        projected = self.project_inputs(inputs)
        return self.step(projected, states, self.loop_constants(), training=training)

    def get_initial_state(self, batch_size=None):
        return [ops.zeros((batch_size, self.state_size), dtype=self.compute_dtype)]

    def _previous_state(self, states):
        return states[0] if isinstance(states, list | tuple) else states

    def _kernel(self, name: str, shape, recurrent: bool = False):
        """A weight initialised as an input kernel, or with `recurrent=True` a recurrent one
        (orthogonal by default, which Keras applies to the 2-D view of a conv kernel).

        A `.keras` file stores weights in the order they were created: keep a cell's order."""
        initializer = self.recurrent_initializer if recurrent else self.kernel_initializer
        return self.add_weight(shape=shape, name=name, initializer=initializer)

    def _bias(self, shape, name: str = "bias"):
        return self.add_weight(shape=shape, name=name, initializer=self.bias_initializer)

    def get_config(self):
        config = {
            "kernel_initializer": keras.initializers.serialize(self.kernel_initializer),
            "recurrent_initializer": keras.initializers.serialize(self.recurrent_initializer),
            "bias_initializer": keras.initializers.serialize(self.bias_initializer),
        }
        return {**super().get_config(), **config}


class UnitsCell(HoistedCell):
    """A `HoistedCell` whose state and output are `units` wide (every cell but the conv one):
    validates `units`, sets `state_size`/`output_size` and puts `units` in the config."""

    def __init__(self, units: int, **kwargs):
        super().__init__(**kwargs)
        if not isinstance(units, int) or isinstance(units, bool) or units < 1:
            raise ValueError(
                f"{type(self).__name__} needs a positive integer `units`, but got {units!r}."
            )
        self.units = units
        self.state_size = units
        self.output_size = units

    def get_config(self):
        return {**super().get_config(), "units": self.units}
