"""The parameters a spec's `space` may name, and the values each accepts.

Names: `cell` (-> `Architecture.variant`), every other `Architecture` field by its name, and the
training settings `learning_rate`, `batch_size`. A test pins this list to the Architecture fields.
The cell names are the registered variants' (cells.registry), read when a spec is checked, so a
variant registered after this import is a valid `cell`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from cells.architecture import ATTENTIONS, FCN_KINDS
from cells.registry import variant_names
from search.spec.fields import is_int, is_number


@dataclass(frozen=True)
class Domain:
    """The values one parameter accepts, stated as data so the parser and the JSON Schema
    (search.spec.schema) read the same bounds."""

    # "str", "int", "float" or "bool": how a YAML value is read.
    kind: str
    # Noun phrases for messages: "a positive integer" / "positive integers".
    singular: str
    plural: str
    # The strings a "str" parameter accepts, or a function that returns them now (cell names).
    allowed: tuple[str, ...] | Callable[[], tuple[str, ...]] | None = None
    # Bounds of a number; `low_open`/`high_open` exclude the bound itself.
    low: float | None = None
    high: float | None = None
    low_open: bool = False
    high_open: bool = False
    # Only powers of two (1, 2, 4, ...) within the bounds.
    powers_of_two: bool = False

    @property
    def ranges(self) -> bool:
        """False where the values are not every number between two bounds (powers of two):
        such a parameter takes a list, never {min, max}."""
        return not self.powers_of_two

    @property
    def choices(self) -> tuple[str, ...] | None:
        return self.allowed() if callable(self.allowed) else self.allowed

    def accepts(self, value: Any) -> bool:
        """Whether a number of the right kind lies within the bounds."""
        if self.low is not None and (value <= self.low if self.low_open else value < self.low):
            return False
        if self.high is not None and (value >= self.high if self.high_open else value > self.high):
            return False
        return not self.powers_of_two or value & (value - 1) == 0

    def read(self, value: Any) -> Any:
        """`value` as this domain's type (an int for a float parameter becomes a float)."""
        if self.kind == "float" and is_number(value):
            return float(value)
        return value

    def contains(self, value: Any) -> bool:
        if self.kind == "str":
            return isinstance(value, str) and value in (self.choices or ())
        if self.kind == "bool":
            return isinstance(value, bool)
        if self.kind == "int":
            return is_int(value) and self.accepts(value)
        return is_number(value) and self.accepts(value)

    @property
    def expected(self) -> str:
        """What a space entry for this parameter may be, for error messages."""
        if self.kind == "str":
            return f"one of {', '.join(self.choices or ())} or a list of them"
        if self.kind == "bool":
            return "true, false or [false, true]"
        if not self.ranges:
            return f"one of the {self.plural} or a list of them"
        return f"a list of {self.plural} or {{min, max}}"


# Sizes beyond this cannot be trained on any machine (10**12 units asks for ~10**25 weights);
# the message keeps saying "positive integers" (pinned by the spec tests) and lists the value.
MAX_SIZE = 65_536

_BOOLEAN = Domain("bool", "true or false", "booleans")
_SIZE = Domain("int", "a positive integer", "positive integers", low=1, high=MAX_SIZE)
# frontend_kernel has no upper bound: a kernel longer than the series is the data's problem.
_OPTIONAL_KERNEL = Domain("int", "an integer >= 0 (0: none)", "integers >= 0 (0: none)", low=0)

# constant: `learning_rate` throughout; cosine: decayed from it to 0 over max_epochs
# (search.trial.build_trial_model).
LR_SCHEDULES = ("constant", "cosine")

DOMAINS: dict[str, Domain] = {
    "cell": Domain("str", "a cell name", "cell names", variant_names),
    "depth": _SIZE,
    "units": _SIZE,
    "bidirectional": _BOOLEAN,
    "residual": _BOOLEAN,
    "reset_after": _BOOLEAN,
    "conv_kernel": _SIZE,
    "frontend_kernel": _OPTIONAL_KERNEL,
    "fcn": Domain("str", "a convolutional branch kind", "convolutional branch kinds", FCN_KINDS),
    "fcn_filters": _SIZE,
    "downsample": Domain(
        "int",
        "a power of two (1: none)",
        "powers of two (1: none)",
        low=1,
        high=MAX_SIZE,
        powers_of_two=True,
    ),
    "ar_highway": Domain(
        "int", "an integer >= 0 (0: none)", "integers >= 0 (0: none)", low=0, high=MAX_SIZE
    ),
    "revin": _BOOLEAN,
    "dimension_shuffle": _BOOLEAN,
    "minirocket": _BOOLEAN,
    "attention": Domain("str", "an attention kind", "attention kinds", ATTENTIONS),
    "attention_units": _SIZE,
    "dropout": Domain(
        "float", "a number in [0, 1)", "numbers in [0, 1)", low=0, high=1, high_open=True
    ),
    "learning_rate": Domain(
        "float", "a number in (0, 1]", "numbers in (0, 1]", low=0, high=1, low_open=True
    ),
    "batch_size": _SIZE,
    "lr_schedule": Domain(
        "str", "a learning-rate schedule", "learning-rate schedules", LR_SCHEDULES
    ),
}

# Spec parameter name -> Architecture field, where they differ.
ARCHITECTURE_FIELD = {"cell": "variant"}
TRAINING_FIELDS = ("learning_rate", "batch_size", "lr_schedule")
