"""Search orchestration: spec, data, trials on Ray, tracking in MLflow, the CLI.

`run`, `load_model` and `SearchResult` import Ray/MLflow/Keras on first use, so importing
`search` (for `gru-search validate`, say) stays fast.
"""

from __future__ import annotations

import importlib

import cells  # noqa: F401 (before anything imports Keras: cells.backend picks its backend)
from search.errors import (
    ClusterError,
    DataError,
    GruSearchError,
    NotFoundError,
    SpecError,
    TrackingError,
    UnreachableError,
)

# name -> module that defines it; imported lazily on first attribute access.
_LAZY = {
    "run": "search.driver",
    "SearchResult": "search.driver",
    "load_model": "search.registry",
}

__all__ = [
    "ClusterError", "DataError", "GruSearchError", "NotFoundError", "SpecError", "TrackingError",
    "UnreachableError", *_LAZY,
]  # fmt: skip


def __getattr__(name: str):
    if name in _LAZY:
        value = getattr(importlib.import_module(_LAZY[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'search' has no attribute {name!r}")
