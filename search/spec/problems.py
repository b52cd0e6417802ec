"""Collecting every problem of a spec before reporting them together.

Each problem is one line, `field.path: what was expected, got <value>`, so a user fixes a spec
in one pass instead of one error per run.
"""

from __future__ import annotations

import difflib
import math
from collections.abc import Iterable, Mapping
from typing import Any

from search.errors import SpecError

# Echoed values are cut here: a spec may hold a huge (or, through YAML aliases, exponentially
# large) structure, and one line per problem must stay one line.
_SHOW_LIMIT = 80


def show(value: Any) -> str:
    """`value` as YAML/JSON-like text, at most about _SHOW_LIMIT characters."""
    parts: list[str] = []
    budget = [_SHOW_LIMIT]

    def emit(text: str) -> bool:
        parts.append(text)
        budget[0] -= len(text)
        return budget[0] > 0

    def walk(v: Any) -> bool:
        if isinstance(v, Mapping):
            if not emit("{"):
                return False
            for i, (k, item) in enumerate(v.items()):
                if (i and not emit(", ")) or not walk(k) or not emit(": ") or not walk(item):
                    return False
            return emit("}")
        if isinstance(v, list | tuple):
            if not emit("["):
                return False
            for i, item in enumerate(v):
                if (i and not emit(", ")) or not walk(item):
                    return False
            return emit("]")
        return emit(_scalar(v))

    complete = walk(value)
    text = "".join(parts)
    return text if complete else text[:_SHOW_LIMIT] + "..."


def _scalar(v: Any) -> str:
    if v is None:
        return "null"
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, str):
        return '"' + v.replace("\\", "\\\\").replace('"', '\\"') + '"'
    if isinstance(v, float) and not math.isfinite(v):
        return str(v)
    if isinstance(v, int | float):
        return repr(v)
    return f"<{type(v).__name__}>"


def suggestion(word: Any, choices: Iterable[str]) -> str:
    """' (did you mean `x`?)' for a close match, else ''."""
    if not isinstance(word, str):
        return ""
    close = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.6)
    return f" (did you mean `{close[0]}`?)" if close else ""


def close_names(name: str, names: Iterable[str], what: str) -> str:
    """The end of a not-found sentence: 'did you mean `x`?' for names close to `name`, else
    'the `what` there are a, b.' (the first 10), or 'there are no `what` there.'"""
    names = sorted(names)
    close = difflib.get_close_matches(name, names, n=3, cutoff=0.6)
    if close:
        return "did you mean " + " or ".join(f"`{n}`" for n in close) + "?"
    if not names:
        return f"there are no {what} there."
    more = f" and {len(names) - 10} more" if len(names) > 10 else ""
    return f"the {what} there are " + ", ".join(names[:10]) + more + "."


def join(path: str, key: Any) -> str:
    return f"{path}.{key}" if path else str(key)


class Problems:
    """An ordered list of `path: message` lines."""

    def __init__(self) -> None:
        self.lines: list[str] = []

    def __bool__(self) -> bool:
        return bool(self.lines)

    def add(self, path: str, message: str) -> None:
        self.lines.append(f"{path}: {message}")

    def expected(self, path: str, what: str, got: Any) -> None:
        self.add(path, f"expected {what}, got {show(got)}")

    def unknown_keys(self, path: str, mapping: Mapping[Any, Any], allowed: Iterable[str]) -> None:
        allowed = list(allowed)
        for key in mapping:
            if key not in allowed:
                self.add(
                    join(path, key),
                    f"unknown key{suggestion(key, allowed)}; allowed: {', '.join(allowed)}",
                )

    def raise_if_any(self, source: str) -> None:
        if not self.lines:
            return
        count = len(self.lines)
        header = f"{source} has {count} problem{'s' if count > 1 else ''}:"
        error = SpecError("\n".join([header, *(f"  {line}" for line in self.lines)]))
        # Callers (the CLI, tests, a UI) can list the problems without parsing the message.
        error.problems = tuple(self.lines)
        raise error
