"""`Space.describe`: the space as a user reads it before launching a search."""

from __future__ import annotations

from typing import TYPE_CHECKING

from space.parameters import show_value

if TYPE_CHECKING:
    from space.space import Space


def _count(space: Space, exclude: tuple[str, ...], continuous: list[str]) -> str:
    number = space.num_configurations(exclude=exclude)
    if number is not None:
        return f"{number:,}"
    # Say how many discrete combinations the continuous parameters vary around.
    names = [n for n in continuous if n not in exclude]
    discrete = space.num_configurations(exclude=(*exclude, *names))
    return f"continuous ({discrete:,} discrete combinations x {', '.join(names)})"


def describe(space: Space) -> str:
    from space.space import TRAINING_PARAMETERS

    continuous = [p.name for p in space.parameters if p.cardinality() is None]
    lines = [
        f"{len(space)} parameters; distinct architectures: "
        f"{_count(space, TRAINING_PARAMETERS, continuous)}; "
        f"distinct configurations: {_count(space, (), continuous)}"
    ]
    width = max((len(p.name) for p in space.parameters), default=0)
    for p in space.parameters:
        line = f"  {p.name:<{width}}  {p.kind:<7}  {p.summary()}"
        if p.when:
            conditions = " and ".join(
                f"{c.parameter} in [{', '.join(show_value(v) for v in c.values)}]" for c in p.when
            )
            line += f"   (when {conditions})"
        lines.append(line)
    return "\n".join(lines)
