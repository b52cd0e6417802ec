"""Declare a `Space` into a keras-tuner `HyperParameters`, so its oracles search exactly it.

keras-tuner is never imported here: the caller passes the `HyperParameters` object in, and the
hyperparameter classes are taken from the module that object comes from.

A parameter is declared under the conditions of all its ancestors (`Space.ancestors`), not just
its own: keras-tuner's `conditional_scope(parent, values)` accepts a parent only when the scopes
open at that moment are exactly the parent's own conditions, which holds for nested scopes that
follow a chain. Where conditions meet from two branches (a parameter conditioned on two
parameters with different conditions of their own) no nesting of scopes fits, and the
hyperparameter is registered with the same conditions through `HyperParameters.merge`, which is
what keras-tuner's own oracles do.
"""

from __future__ import annotations

import contextlib
from typing import Any

from space.parameters import Boolean, Choice, Condition, Fixed, FloatRange, IntRange, Parameter
from space.space import Space


def declare(space: Space, hp: Any) -> None:
    """Declare every parameter of `space` into `hp` (a `keras_tuner.HyperParameters`)."""
    declared: dict[str, tuple[Condition, ...]] = {}
    for p in space.parameters:
        scopes = space.ancestors(p.name)
        if _nestable(scopes, declared):
            with contextlib.ExitStack() as stack:
                for c in scopes:
                    stack.enter_context(hp.conditional_scope(c.parameter, list(c.values)))
                _declare_one(hp, p)
        else:
            hp.merge([_hyperparameter(hp, p, scopes)])
        declared[p.name] = scopes


def _nestable(scopes: tuple[Condition, ...], declared: dict[str, tuple[Condition, ...]]) -> bool:
    # Opening scope k checks that its parent was declared under exactly scopes[:k].
    return all(declared[c.parameter] == scopes[:k] for k, c in enumerate(scopes))


def _declare_one(hp: Any, p: Parameter) -> None:
    if isinstance(p, Choice):
        if isinstance(p.values[0], bool):
            # keras-tuner's Choice turns bools into 0/1 ints; Boolean/Fixed keep them bools.
            if len(p.values) == 2:
                hp.Boolean(p.name)
            else:
                hp.Fixed(p.name, p.values[0])
        else:
            hp.Choice(p.name, list(p.values))
    elif isinstance(p, IntRange):
        hp.Int(p.name, p.low, p.high, step=p.step)
    elif isinstance(p, FloatRange):
        hp.Float(p.name, p.low, p.high, step=p.step, sampling="log" if p.log else "linear")
    elif isinstance(p, Boolean):
        hp.Boolean(p.name)
    elif isinstance(p, Fixed):
        hp.Fixed(p.name, p.value)
    else:
        raise TypeError(f"Cannot declare parameter kind {type(p).__name__} into keras-tuner.")


def _hyperparameter(hp: Any, p: Parameter, scopes: tuple[Condition, ...]) -> Any:
    """The hyperparameter `_declare_one` would register, carrying `scopes` as its conditions."""
    parent_class = _parent_condition_class(type(hp))
    scratch = type(hp)()
    _declare_one(scratch, p)
    (made,) = scratch.space
    made.conditions = [parent_class(c.parameter, list(c.values)) for c in scopes]
    return made


def _parent_condition_class(hyperparameters_class: type) -> type:
    # keras-tuner does not export its condition class; one conditional scope reveals it.
    scratch = hyperparameters_class()
    scratch.Boolean("parent")
    with scratch.conditional_scope("parent", [True]):
        scratch.Boolean("child")
    return type(scratch.space[1].conditions[0])
