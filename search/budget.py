"""search.time_budget_minutes across driver sessions: `--resume` gets what earlier sessions left.

The budget counts trial time, as Ray Tune's `time_budget_s` does: from when Ray is up to when the
last trial ends. Each session adds its trial time to the results folder's record (search.json), so
a search killed after 8 of its 10 minutes resumes with 2, and one that failed at registration after
its budget resumes straight to registration.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

# Less than this left: no new trial could report an epoch, so none is started.
MIN_LEFT_S = 1.0


@dataclass
class TimeBudget:
    minutes: float | None  # None: no budget (trial time is still counted)
    spent_s: float = 0.0  # trial time of earlier sessions
    _since: float | None = None

    @property
    def left_s(self) -> float | None:
        """What this session may spend on trials: Tune's time_budget_s; None for no budget."""
        return None if self.minutes is None else max(0.0, self.minutes * 60 - self.spent_s)

    @property
    def exhausted(self) -> bool:
        return self.left_s is not None and self.left_s < MIN_LEFT_S

    @property
    def reason(self) -> str:
        return f"its time budget of {self.minutes:g} minutes was reached"

    def start(self) -> None:
        """The trials of this session begin now."""
        self._since = time.monotonic()

    def used_s(self) -> float:
        """Trial time of the whole search so far, this session included."""
        return self.spent_s + (0.0 if self._since is None else time.monotonic() - self._since)
