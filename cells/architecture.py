"""What to build: the architecture and the prediction head, as frozen value objects.

This module imports no Keras, so the spec layer can validate against it without paying
for a TensorFlow import.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Literal

# VARIANTS (the built-in cell variants) is declared in cells.registry; re-exported here.
from cells.registry import VARIANTS as VARIANTS
from cells.registry import variant_names

ATTENTIONS = ("none", "pooling", "bahdanau", "luong")
HEAD_KINDS = ("classification", "regression", "forecasting")
FCN_KINDS = ("none", "fcn", "se_fcn")

Attention = Literal["none", "pooling", "bahdanau", "luong"]
HeadKind = Literal["classification", "regression", "forecasting"]
FcnKind = Literal["none", "fcn", "se_fcn"]


def _is_int(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


@dataclass(frozen=True)
class Architecture:
    """One point of the search space: everything `build_model` needs besides the data's shape."""

    # A cell variant's name: one of VARIANTS, or one added by cells.registry.register_variant.
    variant: str = "gru"
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
    # Fully convolutional branch beside the recurrent stack, its pooled output concatenated
    # with the recurrent summary before the head: "fcn" is LSTM-FCN/GRU-FCN (Karim et al. 2017,
    # Elsayed et al. 2018), "se_fcn" adds squeeze-and-excite (MLSTM-FCN, Karim et al. 2019).
    # It reads the input at full resolution, whatever `downsample` does to the recurrent path.
    fcn: FcnKind = "none"
    # Filters f of the branch's three blocks: f, 2f, f (128 in the papers).
    fcn_filters: int = 128
    # Shortens the series by this power of two before the recurrent stack: log2(downsample)
    # strided Conv1D blocks, so the recurrent layers see ceil(steps / downsample) steps.
    downsample: int = 1
    # The recurrent stack reads the series transposed: one step per channel, whose values are
    # the whole series (LSTM-FCN's "dimension shuffle", Karim et al. 2017; GRU-FCN keeps it).
    # A univariate series is then one step for the recurrent layers, which makes them nearly
    # free beside the FCN branch. It transposes what reaches the stack (after downsampling and
    # the front-end), so the conv cells convolve along time instead; it needs series of one
    # length.
    dimension_shuffle: bool = False
    # Forecasting only: LSTNet's linear autoregressive highway over the last `ar_highway`
    # steps of each target series, added to the network's forecast; 0 means none.
    ar_highway: int = 0
    # Instance normalisation: each series (window) is normalised by its own statistics, per
    # channel. Forecasting: reversible (RevIN, Kim et al. 2022), the forecast is de-normalised
    # with them. Classification and regression: the input only, so series whose scales differ
    # by orders of magnitude (counts of different countries) all reach the network in unit scale.
    revin: bool = False
    # Classification and regression: MiniRocket's random convolutional features of the
    # standardised input (Dempster et al. 2021), read out by a frozen ridge fit added to the
    # head's output (cells.minirocket); training starts at that fit, and the network learns
    # what it misses.
    minirocket: bool = False

    def __post_init__(self) -> None:
        problems = []
        if self.variant not in variant_names():
            problems.append(f"variant must be one of {variant_names()}, but got {self.variant!r}.")
        if self.attention not in ATTENTIONS:
            problems.append(f"attention must be one of {ATTENTIONS}, but got {self.attention!r}.")
        if self.fcn not in FCN_KINDS:
            problems.append(f"fcn must be one of {FCN_KINDS}, but got {self.fcn!r}.")
        for name in ("depth", "units", "conv_kernel", "attention_units", "fcn_filters"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                problems.append(f"{name} must be a positive integer, but got {value!r}.")
        if not isinstance(self.frontend_kernel, int) or self.frontend_kernel < 0:
            problems.append(
                f"frontend_kernel must be 0 or a positive integer, but got {self.frontend_kernel!r}."
            )
        factor = self.downsample
        if not (_is_int(factor) and factor >= 1 and factor & (factor - 1) == 0):
            problems.append(
                f"downsample must be a power of two (1, 2, 4, 8, ...), but got {factor!r}."
            )
        if not _is_int(self.ar_highway) or self.ar_highway < 0:
            problems.append(
                f"ar_highway must be 0 or a positive integer, but got {self.ar_highway!r}."
            )
        if not (isinstance(self.dropout, int | float) and 0.0 <= self.dropout < 1.0):
            problems.append(f"dropout must be in [0, 1), but got {self.dropout!r}.")
        booleans = ("bidirectional", "residual", "reset_after", "revin", "dimension_shuffle",
                    "minirocket")  # fmt: skip
        for name in booleans:
            if not isinstance(getattr(self, name), bool):
                problems.append(f"{name} must be a bool, but got {getattr(self, name)!r}.")
        if problems:
            raise ValueError(" ".join(problems))

    def check_head(self, head: Head) -> None:
        """Raise ValueError if an option here does not apply to `head` (the AR highway is
        forecasting-only, MiniRocket's readout is not for forecasting)."""
        if head.kind != "forecasting" and self.ar_highway:
            raise ValueError(
                f"ar_highway={self.ar_highway!r} applies only to forecasting heads, but the head "
                f"is {head.kind!r}; set ar_highway=0 for this task."
            )
        if head.kind == "forecasting" and self.minirocket:
            raise ValueError(
                "minirocket applies only to classification and regression heads (a forecaster "
                "has the AR highway); set minirocket=False for this task."
            )

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
