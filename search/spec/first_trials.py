"""`search.first_trials`: configurations the search trains before its algorithm proposes any.

A search of a few trials samples a few random points of a large space, and on slow data (long
series, k folds) a 10-minute budget holds two or three. Starting from configurations the
literature shows to work is what AutoML tools do (AutoGluon's zero-shot portfolios, Ray Tune's
`points_to_evaluate`, Optuna's `enqueue_trial`): the search begins at a good model and explores
from there. Forms:
  auto (or left out)       the task's default first trials (search.spec.space_section), as far
                           as the space holds their values; none for the grid algorithm
  []                       none: the algorithm proposes every trial
  [{cell: gru, ...}, ...]  your own; each names some parameters of the space, the rest drawn
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from search.spec.domains import DOMAINS
from search.spec.problems import Problems, join, suggestion
from search.spec.space_section import default_first_trials
from space import Space

PATH = "search.first_trials"


def parse_first_trials(
    problems: Problems, value: Any, space: Space | None, task: str | None, algorithm: str | None
) -> tuple[dict[str, Any], ...]:
    if value in (None, "auto"):
        if space is None or algorithm == "grid":
            return ()
        return _within(space, default_first_trials(task))
    if not isinstance(value, list) or not all(isinstance(entry, Mapping) for entry in value):
        problems.expected(PATH, "auto, or a list of mappings from parameters to values", value)
        return ()
    if value and algorithm == "grid":
        problems.add(
            PATH, "applies to the random and bayesian algorithms (grid tries every point anyway)"
        )
        return ()
    if space is None:
        return ()  # the space has problems of its own, reported at `space`
    return tuple(
        _entry(problems, f"{PATH}[{index}]", space, entry) for index, entry in enumerate(value)
    )


def _within(space: Space, entries: tuple[dict[str, Any], ...]) -> tuple[dict[str, Any], ...]:
    """Each default entry cut to the parameters the space has and the values it holds;
    entries left empty or the same as an earlier one are dropped."""
    kept: list[dict[str, Any]] = []
    for entry in entries:
        cut = {k: v for k, v in entry.items() if k in space and space[k].contains(v)}
        if cut and cut not in kept:
            kept.append(cut)
    return tuple(kept)


def _entry(problems: Problems, where: str, space: Space, entry: Mapping) -> dict[str, Any]:
    values: dict[str, Any] = {}
    before = len(problems.lines)
    for name, raw in entry.items():
        at = join(where, str(name))
        if name not in space:
            problems.add(
                at,
                f"is not a parameter of the space{suggestion(name, space.names)}; it has: {', '.join(space.names)}",
            )
            continue
        domain = DOMAINS[name]
        value = domain.read(raw) if domain.contains(raw) else raw
        if not space[name].contains(value):
            problems.expected(at, f"a value the space holds ({space[name].summary()})", raw)
            continue
        values[name] = value
    if not values and len(problems.lines) == before:
        problems.add(where, "names no parameter; give at least one, or drop the entry")
    return values
