"""`Space`: a set of parameters whose conditions form a directed acyclic graph."""

from __future__ import annotations

import json
import random
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from space.parameters import Condition, Parameter, parameter_from_dict

# Training settings rather than architecture: `describe` counts architectures without them.
TRAINING_PARAMETERS = ("learning_rate", "batch_size", "lr_schedule")


def structure_problems(parameters: Iterable[Parameter]) -> list[tuple[str, str]]:
    """Problems between parameters, as (where, message); `where` is "name" or "name.when.parent".

    Kept apart from `Space.__post_init__` so the spec layer can report each one at its field path.
    """
    parameters = list(parameters)
    by_name: dict[str, Parameter] = {}
    problems: list[tuple[str, str]] = []
    for p in parameters:
        if p.name in by_name:
            problems.append((p.name, "is declared twice"))
        by_name[p.name] = p
    for p in parameters:
        for c in p.when:
            where = f"{p.name}.when.{c.parameter}"
            parent = by_name.get(c.parameter)
            if parent is None:
                problems.append(
                    (
                        where,
                        f"condition on unknown parameter {c.parameter!r}; known: {sorted(by_name)}",
                    )
                )
            elif parent.domain() is None:
                problems.append(
                    (
                        where,
                        f"cannot condition on the continuous parameter "
                        f"{c.parameter!r}; make it a list of values",
                    )
                )
            else:
                impossible = [v for v in c.values if not parent.contains(v)]
                if impossible:
                    problems.append(
                        (
                            where,
                            f"{c.parameter!r} can never take "
                            f"{_json(impossible)}; it takes {parent.summary()}",
                        )
                    )
    cycle = _find_cycle(by_name)
    if cycle:
        problems.append((cycle[0], "conditions form a cycle: " + " -> ".join(cycle)))
    return problems


def _find_cycle(by_name: Mapping[str, Parameter]) -> list[str] | None:
    state: dict[str, int] = {}  # 1 = on the current path, 2 = done

    def visit(name: str, path: list[str]) -> list[str] | None:
        state[name] = 1
        for c in by_name[name].when:
            if c.parameter not in by_name:
                continue
            if state.get(c.parameter) == 1:
                return [*path[path.index(c.parameter) :], c.parameter]
            if c.parameter not in state:
                found = visit(c.parameter, [*path, c.parameter])
                if found:
                    return found
        state[name] = 2
        return None

    for name in by_name:
        if name not in state:
            found = visit(name, [name])
            if found:
                return found
    return None


@dataclass(frozen=True)
class Space:
    """An ordered, validated set of parameters; parents always precede their dependants."""

    parameters: tuple[Parameter, ...]

    def __post_init__(self) -> None:
        parameters = tuple(self.parameters)
        bad = [p for p in parameters if not isinstance(p, Parameter)]
        if bad:
            raise ValueError(f"A Space holds parameters, but got {bad!r}.")
        problems = structure_problems(parameters)
        if problems:
            raise ValueError(" ".join(f"{where}: {message}." for where, message in problems))
        object.__setattr__(self, "parameters", _topological(parameters))

    # --- lookup -----------------------------------------------------------------------------
    @property
    def names(self) -> tuple[str, ...]:
        return tuple(p.name for p in self.parameters)

    def __getitem__(self, name: str) -> Parameter:
        for p in self.parameters:
            if p.name == name:
                return p
        raise KeyError(name)

    def __contains__(self, name: object) -> bool:
        return name in self.names

    def __len__(self) -> int:
        return len(self.parameters)

    def ancestors(self, name: str) -> tuple[Condition, ...]:
        """Every condition `name` depends on, its own and its parents', parents first."""
        seen: list[Condition] = []
        for c in self[name].when:
            for inherited in (*self.ancestors(c.parameter), c):
                if inherited not in seen:
                    seen.append(inherited)
        order = {n: i for i, n in enumerate(self.names)}
        return tuple(sorted(seen, key=lambda c: order[c.parameter]))

    # --- values -----------------------------------------------------------------------------
    def sample(self, seed: int, given: Mapping[str, Any] | None = None) -> dict[str, Any]:
        """One configuration; the same seed gives the same one (0 is a seed like any other).

        `given` fixes some values, as Optuna's `enqueue_trial` does: an active parameter takes
        its given value, and the others are drawn (a given value whose conditions do not hold is
        not used). Given values must lie in the space.
        """
        if not isinstance(seed, int) or isinstance(seed, bool):
            raise TypeError(f"seed must be an integer, but got {seed!r}.")
        given = dict(given or {})
        outside = [
            f"{k}={v!r}" for k, v in given.items() if k not in self or not self[k].contains(v)
        ]
        if outside:
            raise ValueError(f"given values outside the space: {', '.join(outside)}.")
        rng = random.Random(seed)
        values: dict[str, Any] = {}
        for p in self.parameters:
            if p.is_active(values):
                values[p.name] = given[p.name] if p.name in given else p.sample(rng)
        return values

    def active(self, values: Mapping[str, Any]) -> dict[str, Any]:
        """`values` without the parameters that their conditions switch off (and unknown keys)."""
        kept: dict[str, Any] = {}
        for p in self.parameters:
            if p.name in values and p.is_active(kept):
                kept[p.name] = values[p.name]
        return kept

    def problems(self, values: Mapping[str, Any]) -> list[str]:
        """Why `values` is not one configuration of this space; empty when it is."""
        found = [f"{k!r} is not a parameter of this space." for k in values if k not in self]
        for p in self.parameters:
            active = p.is_active(values)
            if active and p.name not in values:
                found.append(f"{p.name!r} is active but has no value.")
            elif not active and p.name in values:
                found.append(f"{p.name!r} is inactive but has the value {values[p.name]!r}.")
            elif active and not p.contains(values[p.name]):
                found.append(f"{p.name!r}={values[p.name]!r} is outside {p.summary()}.")
        return found

    # --- size and summary -------------------------------------------------------------------
    def num_configurations(self, exclude: Iterable[str] = ()) -> int | None:
        """Distinct configurations, ignoring the parameters in `exclude`; None when continuous.

        Condition parents are enumerated (they are discrete); every other active parameter
        multiplies the count. A parameter in `exclude` that others depend on is still counted,
        since it changes what is active.
        """
        exclude = set(exclude)
        parents = {c.parameter for p in self.parameters for c in p.when}
        counted = [p for p in self.parameters if p.name not in exclude or p.name in parents]

        def count(index: int, values: dict[str, Any]) -> int | None:
            if index == len(counted):
                return 1
            p = counted[index]
            if not p.is_active(values):
                return count(index + 1, values)
            if p.name in parents:
                total = 0
                for value in p.domain() or ():
                    sub = count(index + 1, {**values, p.name: value})
                    if sub is None:
                        return None
                    total += sub
                return total
            rest = count(index + 1, values)
            size = p.cardinality()
            return None if size is None or rest is None else size * rest

        return count(0, {})

    def describe(self) -> str:
        """A readable summary: one line per parameter and the number of distinct architectures."""
        from space.describe import describe

        return describe(self)

    # --- JSON -------------------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        return {"parameters": [p.to_dict() for p in self.parameters]}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Space:
        if not isinstance(data, Mapping) or not isinstance(data.get("parameters"), list):
            raise ValueError(f"A space is {{'parameters': [...]}}, but got {data!r}.")
        return cls(tuple(parameter_from_dict(p) for p in data["parameters"]))

    def to_json(self) -> str:
        return json.dumps(self.to_dict())

    @classmethod
    def from_json(cls, text: str) -> Space:
        return cls.from_dict(json.loads(text))


def _topological(parameters: tuple[Parameter, ...]) -> tuple[Parameter, ...]:
    """Declaration order, except that a parameter moves after the parameters it depends on."""
    placed: list[Parameter] = []
    names: set[str] = set()
    pending = list(parameters)
    while pending:
        for p in pending:
            if all(c.parameter in names for c in p.when):
                placed.append(p)
                names.add(p.name)
                pending.remove(p)
                break
    return tuple(placed)


def _json(value: Any) -> str:
    return json.dumps(value)
