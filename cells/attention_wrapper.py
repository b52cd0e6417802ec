"""`AttentionRNN`: any recurrent cell run over a sequence while attending to that sequence.

Keras 3's `RNN.call` has no `constants=` argument, so a cell cannot be handed a memory from
outside. This layer owns the whole recurrence instead: its memory is its own input sequence
(so it serialises like any layer and a saved model needs nothing else), the memory keys are
computed once before the loop, and the loop is a private `keras.layers.RNN` over a step that
sees that memory. `keras.layers.RNN` rather than `keras.ops.scan`: on TensorFlow it is the
loop `keras.layers.GRU` itself runs, and measured 37 -> 25 ms per training step for the same
GRU cell on this CPU (batch 64, 100 steps).
"""

from __future__ import annotations

import math

import keras
from keras import ops

from cells.attention_mechanisms import _AttentionMechanism
from cells.base import HoistedCell


def _flat_size(size) -> int:
    return int(size) if isinstance(size, int) else math.prod(int(s) for s in size)


class _AttentionStep(keras.layers.Layer):
    """`AttentionRNN._step` as a cell for `keras.layers.RNN`; it owns no weights.

    It holds bound methods, not the wrapper, so the wrapper's weights are tracked once.
    """

    def __init__(self, wrapper: AttentionRNN, **kwargs):
        super().__init__(**kwargs)
        self._step = wrapper._step
        self.state_size = [
            *(_flat_size(s) for s in wrapper._state_sizes()),
            wrapper._attention_depth,
        ]
        if not wrapper.output_attention:
            self.state_size.append(wrapper._query_depth)
        self.output_size = wrapper.output_size + (
            wrapper._time_steps if wrapper.return_alignments and wrapper._time_steps else 0
        )
        self.built = True

    def call(self, inputs, states, training=False):
        return self._step(inputs, states, training=training)


@keras.saving.register_keras_serializable(package="cells", name="AttentionRNN")
class AttentionRNN(keras.layers.Layer):
    """A recurrent layer that wraps a cell with attention, with TensorFlow Addons'
    `tfa.seq2seq.AttentionWrapper` semantics (Luong et al. 2015, arXiv:1508.04025, eq. 5;
    Bahdanau et al. 2015, arXiv:1409.0473). The memory m is the layer's own input sequence.

    At each step t, with a_0 = 0 and the cell's initial state s_0:

        o_t, s_t  = cell([x_t; a_{t-1}], s_{t-1})       (cell input: x_t and previous attention)
        alpha_t   = mechanism.alignments(query=o_t, memory=m)       (batch, T_mem)
        c_t       = sum_j alpha_tj m_j                              (context)
        a_t       = act(W_a [o_t; c_t])   if attention_layer_size   (W_a without bias)
        a_t       = c_t                   otherwise
        y_t       = a_t if output_attention else o_t

    `act` is `attention_activation`: "tanh" (Luong's attentional hidden state, the default
    here) or None, which reproduces TensorFlow Addons exactly (its attention layer is linear).

    Masking: a padded input step is never attended to and does not advance the state or the
    attention; the last output is that of the last real step, and in a returned sequence padded
    steps are zero (Keras' `zero_output_for_mask=True`; downstream layers get the mask).
    Padded memory values never reach the scores.

    Any Keras cell works (`keras.layers.GRUCell`, the cells of this package): `state_size`,
    `call(inputs, states, training) -> (output, new_states)`. For a cell whose steps are
    (batch, length, channels), such as `ConvGRU1DCell`, the previous attention is broadcast
    along the length as extra channels and the memory is each step flattened.

    Output: y_T (batch, output_size), or (batch, T, output_size) with `return_sequences=True`;
    with `return_alignments=True` a pair (output, alignments) where alignments is
    (batch, T, T_mem), the alignment history (rows of padded steps are zero). Works under
    `keras.layers.Bidirectional` (both directions attend to the whole sequence), except with
    `return_alignments=True`.
    """

    def __init__(
        self,
        cell,
        attention_mechanism: _AttentionMechanism,
        attention_layer_size: int | None = None,
        output_attention: bool = True,
        attention_activation: str | None = "tanh",
        return_alignments: bool = False,
        return_sequences: bool = False,
        go_backwards: bool = False,
        **kwargs,
    ):
        if kwargs.pop("stateful", False) or kwargs.pop("return_state", False):
            raise ValueError(
                "AttentionRNN supports neither stateful=True nor return_state=True; leave them False."
            )
        super().__init__(**kwargs)
        if isinstance(cell, dict):
            cell = keras.saving.deserialize_keras_object(cell)
        if isinstance(attention_mechanism, dict):
            attention_mechanism = keras.saving.deserialize_keras_object(attention_mechanism)
        if not (hasattr(cell, "state_size") and callable(cell)):
            raise ValueError(
                f"AttentionRNN needs an RNN cell with a `state_size`, but got {cell!r}."
            )
        if not isinstance(attention_mechanism, _AttentionMechanism):
            raise ValueError(
                "AttentionRNN needs a BahdanauAttention or LuongAttention as "
                f"`attention_mechanism`, but got {attention_mechanism!r}."
            )
        if attention_layer_size is not None and (
            not isinstance(attention_layer_size, int) or attention_layer_size < 1
        ):
            raise ValueError(
                f"`attention_layer_size` must be None or a positive integer, but got {attention_layer_size!r}."
            )
        self.cell = cell
        self.attention_mechanism = attention_mechanism
        self.attention_layer_size = attention_layer_size
        self.output_attention = bool(output_attention)
        self.attention_activation = keras.activations.get(attention_activation)
        self.return_alignments = bool(return_alignments)
        self.return_sequences = bool(return_sequences)
        self.go_backwards = bool(go_backwards)
        # Read by keras.layers.Bidirectional.
        self.stateful = False
        self.return_state = False
        self.supports_masking = True

    # ---- shapes -------------------------------------------------------------------------

    def build(self, sequences_shape, initial_state_shape=None):
        input_shape = sequences_shape
        step_shape = tuple(input_shape[2:])  # (features,) or (length, channels)
        self._memory_depth = _flat_size(step_shape)
        self._time_steps = input_shape[1]
        self._attention_depth = self.attention_layer_size or self._memory_depth
        if not self.cell.built:
            extra = self._attention_depth
            self.cell.build((input_shape[0], *step_shape[:-1], step_shape[-1] + extra))
        self._query_depth = _flat_size(
            getattr(self.cell, "output_size", None) or self._state_sizes()[0]
        )
        if not self.attention_mechanism.built:  # from_config may have built it already
            self.attention_mechanism.build(
                (input_shape[0], self._query_depth),
                (input_shape[0], input_shape[1], self._memory_depth),
            )
        if self.attention_layer_size is not None:
            self.attention_kernel = self.add_weight(
                shape=(self._query_depth + self._memory_depth, self.attention_layer_size),
                name="attention_kernel",
            )
        # The time loop: keras.layers.RNN (the loop keras.layers.GRU uses) over `_step`. Keeping
        # the whole sequence when alignments are wanted: they are part of each step's output.
        self._loop = keras.layers.RNN(
            _AttentionStep(self),
            return_sequences=self.return_sequences or self.return_alignments,
            return_state=True,
            go_backwards=self.go_backwards,
            # Keras' JAX loop assumes the first state is the output when it repeats outputs
            # over padded steps; ours is not, so padded steps output zeros instead.
            zero_output_for_mask=True,
        )

    def _state_sizes(self):
        sizes = self.cell.state_size
        return list(sizes) if isinstance(sizes, list | tuple) else [sizes]

    @property
    def output_size(self) -> int:
        return self._attention_depth if self.output_attention else self._query_depth

    def compute_output_shape(self, sequences_shape, initial_state_shape=None):
        if not self.built:
            self.build(sequences_shape)
        batch, steps = sequences_shape[0], sequences_shape[1]
        shape = (
            (batch, steps, self.output_size) if self.return_sequences else (batch, self.output_size)
        )
        return (shape, (batch, steps, steps)) if self.return_alignments else shape

    def compute_mask(self, sequences, mask=None):
        output_mask = mask if self.return_sequences else None
        return (output_mask, None) if self.return_alignments else output_mask

    # ---- the recurrence -----------------------------------------------------------------

    def _initial_cell_states(self, batch_size):
        get_initial_state = getattr(self.cell, "get_initial_state", None)
        if get_initial_state is not None:
            states = get_initial_state(batch_size=batch_size)
            return list(states) if isinstance(states, list | tuple) else [states]
        return [
            ops.zeros((batch_size, _flat_size(s)), self.compute_dtype) for s in self._state_sizes()
        ]

    def _cell_input(self, x_t, attention):
        if len(x_t.shape) == 2:
            return ops.concatenate([x_t, attention], axis=-1)  # (batch, features + A)
        # (batch, length, channels): the attention becomes extra channels at every position.
        # Tiled by the static length, not broadcast to a shape computed from the batch: under
        # XLA the gradient of that broadcast needs the (dynamic) shape as a compile-time
        # constant inside the loop, and TensorFlow refused to compile the training step.
        tiled = ops.tile(ops.expand_dims(attention, 1), (1, x_t.shape[1], 1))  # (batch, L, A)
        return ops.concatenate([x_t, tiled], axis=-1)

    def _step(self, x_t, states, training=False):
        """One step, as `keras.layers.RNN` calls it.

        States: [*cell states, attention] and, when the output is the cell's, that output too,
        so that the last real output survives padded steps (which keep the states).
        """
        memory, prepared, cell_constants = self._loop_memory
        num_cell_states = len(self._state_sizes())
        cell_states, previous_attention = list(states[:num_cell_states]), states[num_cell_states]
        cell_input = self._cell_input(x_t, previous_attention)  # (batch, ..., D + A)
        if isinstance(self.cell, HoistedCell):
            # The cell's call would rebuild its loop constants (ConvGRU1DCell's banded
            # matrices) at every step; they were built once in `call`. The input projection
            # stays here: it is taken of [x_t; a_{t-1}], whose second half is only known now.
            projected = self.cell.project_inputs(cell_input)
            output, cell_states = self.cell.step(
                projected, cell_states, cell_constants, training=training
            )
        else:
            output, cell_states = self.cell(cell_input, cell_states, **self._cell_kwargs(training))
        cell_states = list(cell_states) if isinstance(cell_states, list | tuple) else [cell_states]
        query = output if len(output.shape) == 2 else ops.reshape(output, (-1, self._query_depth))
        alignments = self.attention_mechanism.alignments(query, prepared)  # (batch, T)
        context = ops.einsum("bt,btd->bd", alignments, memory)  # (batch, D)
        if self.attention_layer_size is None:
            attention = context
        else:
            attention = ops.matmul(ops.concatenate([query, context], -1), self.attention_kernel)
            attention = self.attention_activation(attention)  # (batch, A)
        new_states = [*cell_states, attention]
        if self.output_attention:
            step_output = attention
        else:
            step_output = query
            new_states.append(query)
        if self.return_alignments:
            # keras.layers.RNN carries one tensor per step: the alignments ride along.
            step_output = ops.concatenate([step_output, alignments], -1)
        return step_output, new_states

    def _cell_kwargs(self, training):
        return {"training": training} if getattr(self.cell, "_call_has_training_arg", True) else {}

    def call(self, sequences, initial_state=None, mask=None, training=False):
        batch, steps = ops.shape(sequences)[0], ops.shape(sequences)[1]
        memory = ops.reshape(sequences, (batch, steps, self._memory_depth))  # (batch, T, D)
        if mask is not None:
            mask = ops.cast(mask, "bool")
            # Zero padded memory so that NaN or junk there cannot leak into scores or gradients.
            memory = ops.where(ops.expand_dims(mask, -1), memory, ops.zeros_like(memory))
        prepared = self.attention_mechanism.prepare_memory(memory, mask)  # hoisted out of the loop
        cell_states = (
            self._initial_cell_states(batch) if initial_state is None else list(initial_state)
        )
        attention = ops.zeros((batch, self._attention_depth), self.compute_dtype)
        states = [*cell_states, attention]
        if not self.output_attention:
            states.append(ops.zeros((batch, self._query_depth), self.compute_dtype))
        self._prepare_dropout(self._cell_input(sequences[:, 0], attention), cell_states)
        # Seen by `_step` inside the loop; bypasses Keras' attribute tracking (these are tensors).
        cell_constants = self.cell.loop_constants() if isinstance(self.cell, HoistedCell) else None
        object.__setattr__(self, "_loop_memory", (memory, prepared, cell_constants))
        try:
            outputs, *final_states = self._loop(
                sequences, initial_state=states, mask=mask, training=training
            )
        finally:
            object.__setattr__(self, "_loop_memory", None)
            self._reset_dropout()

        # Padded steps keep the states, so the last state holds the last real output.
        last = final_states[-1]
        if not (self.return_sequences or self.return_alignments):
            return last
        if self.return_alignments:
            outputs, alignments = outputs[..., : self.output_size], outputs[..., self.output_size :]
        outputs = outputs if self.return_sequences else last
        return (outputs, alignments) if self.return_alignments else outputs

    def _prepare_dropout(self, cell_input, states):
        # Keras' DropoutRNNCell draws its masks on first use; drawing them before the loop
        # keeps the loop body free of random-state updates (which JAX cannot carry out of it).
        if hasattr(self.cell, "get_dropout_mask"):
            self.cell.get_dropout_mask(cell_input)
            self.cell.get_recurrent_dropout_mask(states[0])

    def _reset_dropout(self):
        if hasattr(self.cell, "reset_dropout_mask"):
            self.cell.reset_dropout_mask()
            self.cell.reset_recurrent_dropout_mask()

    def get_config(self):
        config = {
            "cell": keras.saving.serialize_keras_object(self.cell),
            "attention_mechanism": keras.saving.serialize_keras_object(self.attention_mechanism),
            "attention_layer_size": self.attention_layer_size,
            "output_attention": self.output_attention,
            "attention_activation": keras.activations.serialize(self.attention_activation),
            "return_alignments": self.return_alignments,
            "return_sequences": self.return_sequences,
            "go_backwards": self.go_backwards,
        }
        return {**super().get_config(), **config}
