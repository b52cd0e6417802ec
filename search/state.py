"""`search.json` in a search's results folder: what `--resume` needs to go on with the search.

Which MLflow parent run and experiment the search belongs to, the fingerprint of its data (a
resume on changed data is refused), and the trial time earlier sessions spent (the time budget
is the search's, not a session's).
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass
from pathlib import Path

STATE_FILE = "search.json"


@dataclass(frozen=True)
class SearchState:
    parent_run_id: str | None = None
    experiment_id: str | None = None
    data_fingerprint: str | None = None
    trial_seconds: float = 0.0

    @classmethod
    def load(cls, results_dir: Path) -> SearchState | None:
        """The saved state, or None when there is none (or it is unreadable: start afresh)."""
        path = Path(results_dir) / STATE_FILE
        if not path.is_file():
            return None
        try:
            record = json.loads(path.read_text())
        except ValueError:
            return None
        if not isinstance(record, dict):
            return None
        known = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in record.items() if k in known})

    def save(self, results_dir: Path) -> None:
        path = Path(results_dir) / STATE_FILE
        partial = path.with_suffix(".partial")
        record = {**dataclasses.asdict(self), "trial_seconds": round(self.trial_seconds, 1)}
        partial.write_text(json.dumps(record))
        partial.replace(path)  # atomic: a driver killed mid-write leaves the old record
