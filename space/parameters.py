"""The parameter kinds of a search space: frozen value objects that validate themselves.

Modelled on Optuna's distributions: each kind knows its domain (`contains`), how to draw from
it with a `random.Random` (`sample`), how many values it has (`cardinality`, None when
continuous) and how to round-trip through JSON (`to_dict` / `parameter_from_dict`).

A parameter may carry `when` conditions on other parameters' values; it is active only when
every condition holds, and a condition on an inactive parameter never holds (so conditions
chain). The space, not the parameter, checks that the parameters named in conditions exist.
"""

from __future__ import annotations

import math
import random
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar

# A value a parameter can take: what JSON, YAML and keras-tuner all carry without loss.
Scalar = str | int | float | bool

_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
# Float grids are compared with this relative tolerance (a JSON round trip must not drop values).
_GRID_TOLERANCE = 1e-9


def type_name(value: Any) -> str:
    """The kind of a scalar as a user reads it; bool is not an int here."""
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int):
        return "int"
    if isinstance(value, float):
        return "float"
    if isinstance(value, str):
        return "str"
    return type(value).__name__


def is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def same_value(a: Any, b: Any) -> bool:
    """Equality where True is not 1 (Python says it is), but 3 is 3.0."""
    return a == b and isinstance(a, bool) == isinstance(b, bool)


def _set(obj: Any, name: str, value: Any) -> None:
    # Normalising a field of a frozen dataclass in __post_init__ (lists -> tuples).
    object.__setattr__(obj, name, value)


@dataclass(frozen=True)
class Condition:
    """`parameter` must be active and take one of `values` for the owner to be active."""

    parameter: str
    values: tuple[Scalar, ...]

    def __post_init__(self) -> None:
        if isinstance(self.values, str) or not isinstance(self.values, Sequence):
            raise ValueError(
                f"A condition on {self.parameter!r} needs a list of values, but got {self.values!r}."
            )
        _set(self, "values", tuple(self.values))
        if not self.values:
            raise ValueError(f"A condition on {self.parameter!r} needs at least one value.")
        bad = [v for v in self.values if not isinstance(v, Scalar)]
        if bad:
            raise ValueError(
                f"Condition values must be strings, numbers or booleans, but got {bad!r}."
            )

    def holds(self, values: Mapping[str, Any]) -> bool:
        if self.parameter not in values:
            return False
        return any(same_value(values[self.parameter], v) for v in self.values)


def _conditions(when: Any) -> tuple[Condition, ...]:
    if isinstance(when, Mapping):
        return tuple(Condition(name, values) for name, values in when.items())
    return tuple(when)


@dataclass(frozen=True)
class Parameter:
    """Common part of every kind: a name and the conditions that activate it."""

    kind: ClassVar[str] = ""
    name: str
    when: tuple[Condition, ...] = field(default=(), kw_only=True)

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not _NAME.match(self.name):
            raise ValueError(
                f"A parameter name must be an identifier (letters, digits, _), but got {self.name!r}."
            )
        _set(self, "when", _conditions(self.when))
        seen = [c.parameter for c in self.when]
        if self.name in seen:
            raise ValueError(f"Parameter {self.name!r} cannot have a condition on itself.")
        if len(set(seen)) != len(seen):
            raise ValueError(f"Parameter {self.name!r} has two conditions on the same parameter.")

    def is_active(self, values: Mapping[str, Any]) -> bool:
        return all(c.holds(values) for c in self.when)

    def contains(self, value: Any) -> bool:
        raise NotImplementedError

    def sample(self, rng: random.Random) -> Scalar:
        raise NotImplementedError

    def cardinality(self) -> int | None:
        """Number of distinct values, or None for a continuous range."""
        raise NotImplementedError

    def domain(self) -> tuple[Scalar, ...] | None:
        """Every value in order, or None for a continuous range."""
        raise NotImplementedError

    def summary(self) -> str:
        """The domain in a few words, for `Space.describe`."""
        raise NotImplementedError

    def _fields(self) -> dict[str, Any]:
        raise NotImplementedError

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {"kind": self.kind, "name": self.name, **self._fields()}
        if self.when:
            data["when"] = {c.parameter: list(c.values) for c in self.when}
        return data


@dataclass(frozen=True)
class Choice(Parameter):
    """One of a list of values of one type (str, int, float or bool)."""

    kind: ClassVar[str] = "choice"
    values: tuple[Scalar, ...]

    def __post_init__(self) -> None:
        super().__post_init__()
        if isinstance(self.values, str) or not isinstance(self.values, Sequence):
            raise ValueError(
                f"Choice {self.name!r} needs a list of values, but got {self.values!r}."
            )
        _set(self, "values", tuple(self.values))
        if not self.values:
            raise ValueError(f"Choice {self.name!r} needs at least one value, but got none.")
        bad = [v for v in self.values if not isinstance(v, Scalar)]
        if bad:
            raise ValueError(
                f"Choice {self.name!r} takes strings, numbers or booleans, but got {bad!r}."
            )
        kinds = sorted({type_name(v) for v in self.values})
        if len(kinds) > 1:
            # keras-tuner's Choice takes one type only; mixing would also make `1 == True` ambiguous.
            raise ValueError(
                f"Choice {self.name!r} mixes value types {kinds}; use one type, for example "
                f"all floats."
            )
        if len(set(self.values)) != len(self.values):
            raise ValueError(f"Choice {self.name!r} lists a value twice: {list(self.values)!r}.")

    def contains(self, value: Any) -> bool:
        return any(same_value(value, v) for v in self.values)

    def sample(self, rng: random.Random) -> Scalar:
        return self.values[rng.randrange(len(self.values))]

    def cardinality(self) -> int:
        return len(self.values)

    def domain(self) -> tuple[Scalar, ...]:
        return self.values

    def summary(self) -> str:
        return " | ".join(show_value(v) for v in self.values)

    def _fields(self) -> dict[str, Any]:
        return {"values": list(self.values)}


@dataclass(frozen=True)
class IntRange(Parameter):
    """Integers low, low + step, ..., high (both ends included)."""

    kind: ClassVar[str] = "int"
    low: int
    high: int
    step: int = 1

    def __post_init__(self) -> None:
        super().__post_init__()
        for label, value in (("low", self.low), ("high", self.high), ("step", self.step)):
            if not isinstance(value, int) or isinstance(value, bool):
                raise ValueError(
                    f"IntRange {self.name!r}: {label} must be an integer, but got {value!r}."
                )
        if self.step < 1:
            raise ValueError(
                f"IntRange {self.name!r}: step must be at least 1, but got {self.step}."
            )
        if self.low > self.high:
            raise ValueError(
                f"IntRange {self.name!r}: `low <= high` must hold, but got low={self.low}, "
                f"high={self.high}."
            )
        if (self.high - self.low) % self.step:
            raise ValueError(
                f"IntRange {self.name!r}: high={self.high} is not reached from low={self.low} in "
                f"steps of {self.step}; make high - low a multiple of step."
            )

    def contains(self, value: Any) -> bool:
        return (
            isinstance(value, int)
            and not isinstance(value, bool)
            and self.low <= value <= self.high
            and (value - self.low) % self.step == 0
        )

    def sample(self, rng: random.Random) -> int:
        return self.low + self.step * rng.randrange(self.cardinality())

    def cardinality(self) -> int:
        return (self.high - self.low) // self.step + 1

    def domain(self) -> tuple[int, ...]:
        return tuple(range(self.low, self.high + 1, self.step))

    def summary(self) -> str:
        step = f" step {self.step}" if self.step != 1 else ""
        return f"{self.low} to {self.high}{step}"

    def _fields(self) -> dict[str, Any]:
        return {"low": self.low, "high": self.high, "step": self.step}


@dataclass(frozen=True)
class FloatRange(Parameter):
    """Floats in [low, high]; uniform in log space when `log`, on a grid when `step` is set."""

    kind: ClassVar[str] = "float"
    low: float
    high: float
    log: bool = False
    step: float | None = None

    def __post_init__(self) -> None:
        super().__post_init__()
        for label, value in (("low", self.low), ("high", self.high)):
            if not is_number(value) or not math.isfinite(value):
                raise ValueError(
                    f"FloatRange {self.name!r}: {label} must be a finite number, but got {value!r}."
                )
        _set(self, "low", float(self.low))
        _set(self, "high", float(self.high))
        if not isinstance(self.log, bool):
            raise ValueError(
                f"FloatRange {self.name!r}: log must be true or false, but got {self.log!r}."
            )
        if self.low > self.high:
            raise ValueError(
                f"FloatRange {self.name!r}: `low <= high` must hold, but got low={self.low}, "
                f"high={self.high}."
            )
        if self.log and self.low <= 0:
            raise ValueError(
                f"FloatRange {self.name!r}: a log range must have low > 0, but got low={self.low}."
            )
        if self.step is not None:
            if not is_number(self.step) or not math.isfinite(self.step) or self.step <= 0:
                raise ValueError(
                    f"FloatRange {self.name!r}: step must be a positive number, but got {self.step!r}."
                )
            if self.log:
                raise ValueError(f"FloatRange {self.name!r}: step and log cannot be used together.")
            _set(self, "step", float(self.step))

    def contains(self, value: Any) -> bool:
        if not is_number(value) or not self.low <= value <= self.high:
            return False
        if self.step is None:
            return True
        index = (value - self.low) / self.step
        return abs(index - round(index)) <= _GRID_TOLERANCE * max(1.0, abs(index))

    def sample(self, rng: random.Random) -> float:
        if self.step is not None:
            return self._grid_value(rng.randrange(self.cardinality()))
        if self.log:
            value = math.exp(rng.uniform(math.log(self.low), math.log(self.high)))
        else:
            value = rng.uniform(self.low, self.high)
        # exp(log(x)) can land a hair outside the range.
        return min(max(value, self.low), self.high)

    def _grid_value(self, index: int) -> float:
        return min(self.low + index * (self.step or 0.0), self.high)

    def cardinality(self) -> int | None:
        if self.step is None:
            return None if self.low < self.high else 1
        return math.floor((self.high - self.low) / self.step * (1 + _GRID_TOLERANCE)) + 1

    def domain(self) -> tuple[float, ...] | None:
        if self.step is None:
            return (self.low,) if self.low == self.high else None
        return tuple(self._grid_value(i) for i in range(self.cardinality()))

    def summary(self) -> str:
        extra = " (log)" if self.log else (f" step {self.step:g}" if self.step is not None else "")
        return f"{self.low:g} to {self.high:g}{extra}"

    def _fields(self) -> dict[str, Any]:
        data: dict[str, Any] = {"low": self.low, "high": self.high, "log": self.log}
        if self.step is not None:
            data["step"] = self.step
        return data


@dataclass(frozen=True)
class Boolean(Parameter):
    """True or false."""

    kind: ClassVar[str] = "boolean"

    def contains(self, value: Any) -> bool:
        return isinstance(value, bool)

    def sample(self, rng: random.Random) -> bool:
        return rng.random() < 0.5

    def cardinality(self) -> int:
        return 2

    def domain(self) -> tuple[bool, ...]:
        return (False, True)

    def summary(self) -> str:
        return "false | true"

    def _fields(self) -> dict[str, Any]:
        return {}


@dataclass(frozen=True)
class Fixed(Parameter):
    """Always one value (still recorded with every trial)."""

    kind: ClassVar[str] = "fixed"
    value: Scalar

    def __post_init__(self) -> None:
        super().__post_init__()
        if not isinstance(self.value, Scalar):
            raise ValueError(
                f"Fixed {self.name!r} takes a string, number or boolean, but got {self.value!r}."
            )

    def contains(self, value: Any) -> bool:
        return same_value(value, self.value)

    def sample(self, rng: random.Random) -> Scalar:
        return self.value

    def cardinality(self) -> int:
        return 1

    def domain(self) -> tuple[Scalar, ...]:
        return (self.value,)

    def summary(self) -> str:
        return show_value(self.value)

    def _fields(self) -> dict[str, Any]:
        return {"value": self.value}


KINDS: dict[str, type[Parameter]] = {
    cls.kind: cls for cls in (Choice, IntRange, FloatRange, Boolean, Fixed)
}


def parameter_from_dict(data: Mapping[str, Any]) -> Parameter:
    """Inverse of `Parameter.to_dict`; raises ValueError on anything it did not write."""
    if not isinstance(data, Mapping) or data.get("kind") not in KINDS:
        raise ValueError(f"A parameter needs a 'kind' among {sorted(KINDS)}, but got {data!r}.")
    fields = {k: v for k, v in data.items() if k != "kind"}
    try:
        return KINDS[data["kind"]](**fields)
    except TypeError as error:
        raise ValueError(f"Cannot read parameter {data!r}: {error}.") from None


def show_value(value: Scalar) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)
