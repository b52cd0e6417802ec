"""Brute-force references for the space tests."""

from __future__ import annotations

import itertools

from space import Space

ABSENT = object()


def all_configurations(space: Space) -> list[dict]:
    """Every configuration of a small finite space, found by trying every combination."""
    domains = [(*p.domain(), ABSENT) for p in space.parameters]
    found = []
    for combination in itertools.product(*domains):
        values = {
            p.name: v for p, v in zip(space.parameters, combination, strict=True) if v is not ABSENT
        }
        if not space.problems(values):
            found.append(values)
    return found


def distinct(configurations: list[dict], exclude: tuple[str, ...] = ()) -> int:
    return len(
        {
            tuple(sorted((k, repr(v)) for k, v in c.items() if k not in exclude))
            for c in configurations
        }
    )
