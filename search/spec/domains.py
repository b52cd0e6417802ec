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
    """The values one parameter accepts."""

    # "str", "int", "float" or "bool": how a YAML value is read.
    kind: str
    # Noun phrases for messages: "a positive integer" / "positive integers".
    singular: str
    plural: str
    accepts: Callable[[Any], bool]
    # The strings a "str" parameter accepts, or a function that returns them now (cell names).
    allowed: tuple[str, ...] | Callable[[], tuple[str, ...]] | None = None
    # False where the values are not every integer between two bounds (powers of two): such a
    # parameter takes a list, never {min, max}.
    ranges: bool = True

    @property
    def choices(self) -> tuple[str, ...] | None:
        return self.allowed() if callable(self.allowed) else self.allowed

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


def _positive(value: Any) -> bool:
    return value >= 1


# Sizes beyond this cannot be trained on any machine (10**12 units asks for ~10**25 weights);
# the message keeps saying "positive integers" (pinned by the spec tests) and lists the value.
MAX_SIZE = 65_536


def _size(value: Any) -> bool:
    return 1 <= value <= MAX_SIZE


def _power_of_two(value: Any) -> bool:
    return 1 <= value <= MAX_SIZE and value & (value - 1) == 0


DOMAINS: dict[str, Domain] = {
    "cell": Domain("str", "a cell name", "cell names", lambda v: True, variant_names),
    "depth": Domain("int", "a positive integer", "positive integers", _size),
    "units": Domain("int", "a positive integer", "positive integers", _size),
    "bidirectional": Domain("bool", "true or false", "booleans", lambda v: True),
    "residual": Domain("bool", "true or false", "booleans", lambda v: True),
    "reset_after": Domain("bool", "true or false", "booleans", lambda v: True),
    "conv_kernel": Domain("int", "a positive integer", "positive integers", _size),
    "frontend_kernel": Domain(
        "int", "an integer >= 0 (0: none)", "integers >= 0 (0: none)", lambda v: v >= 0
    ),
    "fcn": Domain(
        "str",
        "a convolutional branch kind",
        "convolutional branch kinds",
        lambda v: True,
        FCN_KINDS,
    ),
    "fcn_filters": Domain("int", "a positive integer", "positive integers", _size),
    "downsample": Domain(
        "int", "a power of two (1: none)", "powers of two (1: none)", _power_of_two, ranges=False
    ),
    "ar_highway": Domain(
        "int", "an integer >= 0 (0: none)", "integers >= 0 (0: none)", lambda v: 0 <= v <= MAX_SIZE
    ),
    "revin": Domain("bool", "true or false", "booleans", lambda v: True),
    "dimension_shuffle": Domain("bool", "true or false", "booleans", lambda v: True),
    "attention": Domain("str", "an attention kind", "attention kinds", lambda v: True, ATTENTIONS),
    "attention_units": Domain("int", "a positive integer", "positive integers", _size),
    "dropout": Domain("float", "a number in [0, 1)", "numbers in [0, 1)", lambda v: 0 <= v < 1),
    "learning_rate": Domain(
        "float", "a number in (0, 1]", "numbers in (0, 1]", lambda v: 0 < v <= 1
    ),
    "batch_size": Domain("int", "a positive integer", "positive integers", _size),
}

# Spec parameter name -> Architecture field, where they differ.
ARCHITECTURE_FIELD = {"cell": "variant"}
TRAINING_FIELDS = ("learning_rate", "batch_size")
