"""The problems aeon has on disk here, listed without importing aeon.

`import aeon.datasets` takes seconds (it pulls in scikit-learn), and `gru-search validate` checks
an `aeon:<Name>` without paying for it: the names come from the files in aeon's package folder,
the same folders its loader reads. Nothing is downloaded.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

# The header line that marks a .ts file's task (aeon's own format).
_TASK_MARKERS = {"classification": "@classlabel true", "regression": "@targetlabel true"}


def data_dirs() -> list[Path]:
    """aeon's bundled problems (`data`) and any downloaded earlier (`local_data`)."""
    # find_spec of a top-level package locates it without running its __init__.
    found = importlib.util.find_spec("aeon")
    if found is None or not found.submodule_search_locations:
        return []
    root = Path(next(iter(found.submodule_search_locations))) / "datasets"
    return [root / "data", root / "local_data"]


def _header(path: Path) -> str:
    lines = []
    with path.open(encoding="utf-8", errors="replace") as handle:
        for line in handle:
            if line.lower().startswith("@data"):
                break
            lines.append(line.lower())
    return "".join(lines)


def available_aeon(task: str) -> list[str]:
    """Problems aeon has on disk here, with both a train and a test file, for this task
    (classification or regression)."""
    marker = _TASK_MARKERS[task]
    names = set()
    for folder in data_dirs():
        for train in folder.glob("*/*_TRAIN.ts"):
            name = train.name.removesuffix("_TRAIN.ts")
            if (train.parent / f"{name}_TEST.ts").exists() and marker in _header(train):
                names.add(name)
    return sorted(names)
