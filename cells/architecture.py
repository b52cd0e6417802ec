"""What to build: the architecture and the prediction head, as frozen value objects.

This module imports no Keras, so the spec layer can validate against it without paying
for a TensorFlow import.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Literal

VARIANTS = ("gru", "minimal", "mgu", "layernorm", "convgru", "sepconvgru")
ATTENTIONS = ("none", "pooling", "bahdanau", "luong")
HEAD_KINDS = ("classification", "regression", "forecasting")

Variant = Literal["gru", "minimal", "mgu", "layernorm", "convgru", "sepconvgru"]
Attention = Literal["none", "pooling", "bahdanau", "luong"]
HeadKind = Literal["classification", "regression", "forecasting"]


@dataclass(frozen=True)
class Architecture:
    """One point of the search space: everything `build_model` needs besides the data's shape."""

    variant: Variant = "gru"
    depth: int = 1
    # Hidden size: values per step of each recurrent layer's state (per direction). The
    # convgru/sepconvgru state is a (features, filters) map, so they get
    # filters = max(1, ceil(units / features)) per position: about `units` values too.
    units: int = 64
    bidirectional: bool = False
    # Adds each layer's input to its output where the widths match (depth >= 2).
    residual: bool = False
    # Only for variant "gru": True is the cuDNN form, False the original (Cho et al. 2014) form.
    reset_after: bool = True
    # Only for convgru/sepconvgru: kernel of the convolution along the feature axis.
    conv_kernel: int = 3
    # Causal Conv1D over time before the recurrent stack; 0 means no front-end.
    frontend_kernel: int = 0
    attention: Attention = "none"
    # Size of the attention layer (bahdanau/luong); ignored otherwise.
    attention_units: int = 64
    # Dropout on each recurrent layer's inputs.
    dropout: float = 0.0

    def __post_init__(self) -> None:
        problems = []
        if self.variant not in VARIANTS:
            problems.append(f"variant must be one of {VARIANTS}, but got {self.variant!r}.")
        if self.attention not in ATTENTIONS:
            problems.append(f"attention must be one of {ATTENTIONS}, but got {self.attention!r}.")
        for name in ("depth", "units", "conv_kernel", "attention_units"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                problems.append(f"{name} must be a positive integer, but got {value!r}.")
        if not isinstance(self.frontend_kernel, int) or self.frontend_kernel < 0:
            problems.append(
                f"frontend_kernel must be 0 or a positive integer, but got {self.frontend_kernel!r}."
            )
        if not (isinstance(self.dropout, int | float) and 0.0 <= self.dropout < 1.0):
            problems.append(f"dropout must be in [0, 1), but got {self.dropout!r}.")
        for name in ("bidirectional", "residual", "reset_after"):
            if not isinstance(getattr(self, name), bool):
                problems.append(f"{name} must be a bool, but got {getattr(self, name)!r}.")
        if problems:
            raise ValueError(" ".join(problems))

    @classmethod
    def field_names(cls) -> tuple[str, ...]:
        return tuple(f.name for f in dataclasses.fields(cls))

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


@dataclass(frozen=True)
class Head:
    """What the model predicts, and the statistics that put its outputs in original units."""

    kind: HeadKind
    # Number of classes (classification) or of target series/values (regression, forecasting).
    num_outputs: int
    # Steps ahead predicted at once (forecasting only).
    horizon: int = 1
    # Per-target mean and std of the training targets: the model de-standardises its output
    # so a loaded model answers in original units. None for classification.
    target_mean: tuple[float, ...] | None = None
    target_std: tuple[float, ...] | None = None

    def __post_init__(self) -> None:
        if self.kind not in HEAD_KINDS:
            raise ValueError(f"Head kind must be one of {HEAD_KINDS}, but got {self.kind!r}.")
        if self.num_outputs < 1 or self.horizon < 1:
            raise ValueError(
                f"num_outputs and horizon must be positive, but got ({self.num_outputs=}, {self.horizon=})."
            )
