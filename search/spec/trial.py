"""The way back from a search algorithm's proposal to what one trial builds and trains."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from cells.architecture import Architecture
from search.errors import SpecError
from search.spec.domains import ARCHITECTURE_FIELD, DOMAINS, TRAINING_FIELDS
from search.spec.model import TrainingSettings, TrialConfig
from space import Space


def trial_config(values: Mapping[str, Any], space: Space | None = None) -> TrialConfig:
    """Map sampled values (spec parameter names) to an Architecture and training settings.

    Absent parameters take the Architecture / TrainingSettings defaults. NumPy scalars (Ray Tune
    delivers `tune.choice` values as NumPy types, which Keras constructors reject) and keras-tuner's
    0/1 for booleans become plain Python values. With `space`, values its conditions switch off
    are dropped first.
    """
    if space is not None:
        values = space.active(values)
    unknown = [k for k in values if k not in DOMAINS]
    if unknown:
        raise SpecError(
            f"Trial values name unknown parameters {unknown}; known: {', '.join(DOMAINS)}."
        )
    plain = {}
    for name, value in values.items():
        cast = _cast(DOMAINS[name].kind, value)
        if not DOMAINS[name].contains(cast):
            raise SpecError(
                f"Trial value {name}={value!r} is not one of the {DOMAINS[name].plural}."
            )
        plain[name] = cast
    training = TrainingSettings(**{k: plain.pop(k) for k in TRAINING_FIELDS if k in plain})
    fields = {ARCHITECTURE_FIELD.get(k, k): v for k, v in plain.items()}
    try:
        architecture = Architecture(**fields)
    except ValueError as error:
        raise SpecError(f"Trial values do not make an architecture: {error}") from None
    return TrialConfig(architecture, training)


def _cast(kind: str, value: Any) -> Any:
    # NumPy scalars and 0-d arrays have .item(); str subclasses (numpy.str_) do too, harmlessly.
    if not isinstance(value, str | bytes) and hasattr(value, "item"):
        value = value.item()
    if kind == "str":
        return str(value) if isinstance(value, str) else value
    if kind == "bool":
        if isinstance(value, int) and value in (0, 1):
            return bool(value)
        return value
    if kind == "int":
        if isinstance(value, float) and value.is_integer():
            return int(value)
        return value
    if kind == "float" and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    return value
