"""Typed reads of one field of a spec section, recording a problem instead of raising.

Each reader returns the field's value, or `default` when it is absent or wrong, so parsing goes on
and every problem of the spec is found in one pass.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from search.spec.problems import Problems, join, suggestion

# Marks a required field: absent -> a problem, and the reader returns None.
REQUIRED: Any = object()


def is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def section(problems: Problems, value: Any, path: str, allowed: tuple[str, ...]) -> dict:
    """A section that must be a mapping with known keys; {} (and a problem) when it is not."""
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        problems.expected(path, f"a mapping with keys {', '.join(allowed)}", value)
        return {}
    problems.unknown_keys(path, value, allowed)
    return {k: v for k, v in value.items() if k in allowed}


class Fields:
    """Reads the fields of one section (a mapping already checked by `section`)."""

    def __init__(self, problems: Problems, mapping: Mapping[str, Any], path: str) -> None:
        self.problems = problems
        self.mapping = mapping
        self.path = path

    def given(self, key: str) -> bool:
        return key in self.mapping and self.mapping[key] is not None

    def _get(self, key: str, default: Any) -> tuple[bool, Any]:
        if self.given(key):
            return True, self.mapping[key]
        if default is REQUIRED:
            self.problems.add(join(self.path, key), "is required")
        return False, None if default is REQUIRED else default

    def text(
        self, key: str, default: Any = REQUIRED, choices: tuple[str, ...] | None = None
    ) -> Any:
        found, value = self._get(key, default)
        if not found:
            return value
        if choices is not None:
            if not isinstance(value, str) or value not in choices:
                self.problems.expected(
                    join(self.path, key),
                    f"one of {', '.join(choices)}{suggestion(value, choices)}",
                    value,
                )
                return None if default is REQUIRED else default
            return value
        if not isinstance(value, str) or not value.strip():
            self.problems.expected(join(self.path, key), "a non-empty string", value)
            return None if default is REQUIRED else default
        return value

    def integer(
        self, key: str, default: Any = REQUIRED, minimum: int = 0, maximum: int | None = None
    ) -> Any:
        found, value = self._get(key, default)
        if found and (
            not is_int(value) or value < minimum or (maximum is not None and value > maximum)
        ):
            what = {0: "an integer >= 0", 1: "a positive integer"}.get(
                minimum, f"an integer >= {minimum}"
            )
            if maximum is not None and is_int(value) and value > maximum:
                what = f"an integer from {minimum} to {maximum:,}"
            self.problems.expected(join(self.path, key), what, value)
            return None if default is REQUIRED else default
        return value

    def boolean(self, key: str, default: bool) -> bool:
        found, value = self._get(key, default)
        if found and not isinstance(value, bool):
            self.problems.expected(join(self.path, key), "true or false", value)
            return default
        return value

    def number(
        self,
        key: str,
        default: Any = REQUIRED,
        *,
        what: str,
        above: float | None = None,
        at_least: float | None = None,
        below: float | None = None,
    ) -> Any:
        """A finite number; `above`/`below` are exclusive bounds, `at_least` inclusive."""
        found, value = self._get(key, default)
        if found and (
            not is_number(value)
            or (above is not None and value <= above)
            or (at_least is not None and value < at_least)
            or (below is not None and value >= below)
        ):
            self.problems.expected(join(self.path, key), what, value)
            return None if default is REQUIRED else default
        return float(value) if found else value

    def names(self, key: str, default: Any = None) -> Any:
        """A list of distinct non-empty strings (a single string is a list of one)."""
        found, value = self._get(key, default)
        if not found:
            return value
        if isinstance(value, str):
            value = [value]
        if (
            not isinstance(value, list)
            or not value
            or not all(isinstance(v, str) and v.strip() for v in value)
            or len(set(value)) != len(value)
        ):
            self.problems.expected(join(self.path, key), "a list of distinct column names", value)
            return None if default is REQUIRED else default
        return tuple(value)
