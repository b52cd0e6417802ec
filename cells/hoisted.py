"""`HoistedRNN`: project the whole sequence once, loop only over the recurrent step."""

from __future__ import annotations

import keras

from cells.base import HoistedCell


class _Slot:
    """A plain holder, invisible to Keras' attribute tracking."""

    __slots__ = ("value",)

    def __init__(self):
        self.value = None


class _RecurrentStep(keras.layers.Layer):
    """The cell as `keras.layers.RNN` sees it inside `HoistedRNN`: only its `step`.

    It holds the bound method, not the cell, so the cell's weights are tracked (and saved)
    once, under `HoistedRNN.cell`. `HoistedRNN.call` puts the cell's loop constants in
    `constants` just before the loop is traced (`keras.layers.RNN.call` has no `constants=`).
    """

    def __init__(self, cell: HoistedCell, **kwargs):
        super().__init__(**kwargs)
        self.constants = _Slot()
        self._step = cell.step
        self._initial_state = cell.get_initial_state
        self.state_size = cell.state_size
        self.output_size = cell.output_size

    def build(self, input_shape):
        pass  # the cell is built by HoistedRNN on the unprojected input shape

    def get_initial_state(self, batch_size=None):
        return self._initial_state(batch_size=batch_size)

    def call(self, inputs, states, training=False):
        return self._step(inputs, states, self.constants.value, training=training)


@keras.saving.register_keras_serializable(package="cells", name="HoistedRNN")
class HoistedRNN(keras.layers.Layer):
    """A recurrent layer for a `HoistedCell`, equivalent to `keras.layers.RNN(cell)` but faster.

    `cell.project_inputs` runs once over the whole (batch, time, ...) input, then
    `keras.layers.RNN` loops over `cell.step` on the projected sequence, the way
    `keras.layers.GRU` hoists `x @ W`. Masking, `go_backwards`, `return_state` and
    `keras.layers.Bidirectional` behave as for `keras.layers.RNN`.

    Output: (batch, cell.output_size), or (batch, time, cell.output_size) with
    `return_sequences=True`.
    """

    def __init__(
        self,
        cell: HoistedCell,
        return_sequences: bool = False,
        return_state: bool = False,
        go_backwards: bool = False,
        unroll: bool = False,
        zero_output_for_mask: bool = False,
        **kwargs,
    ):
        stateful = kwargs.pop("stateful", False)
        if stateful:
            raise ValueError("HoistedRNN does not support stateful=True; pass stateful=False.")
        super().__init__(**kwargs)
        if isinstance(cell, dict):
            cell = keras.saving.deserialize_keras_object(cell)
        if not isinstance(cell, HoistedCell):
            raise TypeError(
                "HoistedRNN needs a cell with project_inputs and step (a cells.HoistedCell), "
                f"but got {type(cell).__name__}; wrap other cells in keras.layers.RNN."
            )
        self.cell = cell
        self.return_sequences = return_sequences
        self.return_state = return_state
        self.go_backwards = go_backwards
        self.unroll = unroll
        self.stateful = False
        self._zero_output_for_mask = zero_output_for_mask
        self.supports_masking = True
        self.rnn = None  # built with the cell: a conv cell knows its state size only then

    @property
    def zero_output_for_mask(self) -> bool:
        return self._zero_output_for_mask

    @zero_output_for_mask.setter
    def zero_output_for_mask(self, value: bool) -> None:
        # keras.layers.Bidirectional sets this after construction.
        self._zero_output_for_mask = value
        if self.rnn is not None:
            self.rnn.zero_output_for_mask = value

    def _step_shape(self, sequences_shape):
        return (sequences_shape[0], *sequences_shape[2:])

    def build(self, sequences_shape, initial_state_shape=None):
        if self.rnn is not None:
            return  # built already (Keras may call build again, e.g. after build_from_config)
        if not self.cell.built:
            self.cell.build(self._step_shape(sequences_shape))
            self.cell.built = True
        self.rnn = keras.layers.RNN(
            _RecurrentStep(self.cell),
            return_sequences=self.return_sequences,
            return_state=self.return_state,
            go_backwards=self.go_backwards,
            unroll=self.unroll,
            zero_output_for_mask=self._zero_output_for_mask,
            dtype=self.dtype_policy,
        )
        projected_shape = (*sequences_shape[:2], self.cell.projection_size)
        self.rnn.build(projected_shape)

    def call(self, sequences, initial_state=None, mask=None, training=False):
        projected = self.cell.project_inputs(sequences)  # (batch, time, projection_size)
        slot = self.rnn.cell.constants
        slot.value = self.cell.loop_constants()
        try:
            return self.rnn(projected, initial_state=initial_state, mask=mask, training=training)
        finally:
            slot.value = None  # do not keep tensors of a finished trace alive

    def compute_output_shape(self, sequences_shape, initial_state_shape=None):
        if self.rnn is None:
            self.build(sequences_shape)
        return self.rnn.compute_output_shape((*sequences_shape[:2], self.cell.projection_size))

    def compute_mask(self, sequences, mask=None):
        if mask is not None and isinstance(mask, list | tuple):
            mask = mask[0]
        output_mask = mask if self.return_sequences else None
        if self.return_state:
            return [output_mask, None]
        return output_mask

    def get_initial_state(self, batch_size):
        return self.rnn.get_initial_state(batch_size)

    def get_config(self):
        config = {
            "cell": keras.saving.serialize_keras_object(self.cell),
            "return_sequences": self.return_sequences,
            "return_state": self.return_state,
            "go_backwards": self.go_backwards,
            "unroll": self.unroll,
            "zero_output_for_mask": self._zero_output_for_mask,
        }
        return {**super().get_config(), **config}

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        config["cell"] = keras.saving.deserialize_keras_object(config["cell"])
        return cls(**config)
