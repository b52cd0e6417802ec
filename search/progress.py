"""What a person sees while a search runs: a live table of trials, the best so far, elapsed time.

Fed by plain calls (`started`, `result`, `ended`) from the driver, so it knows nothing of Ray.
With `quiet=True` nothing is drawn; everything also goes to the search's log file.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field

from rich.console import Console, Group
from rich.live import Live
from rich.table import Table
from rich.text import Text

from search.trial_result import BEST_OBJECTIVE

log = logging.getLogger("gru_search")

# Parameters shown in the table, in this order, when the space has them.
KEY_PARAMS = ("cell", "depth", "units", "bidirectional", "attention", "learning_rate", "batch_size")
# Rows kept on screen: the running trials and the most recent finished ones.
MAX_ROWS = 14


@dataclass
class _Row:
    number: str
    params: dict
    status: str = "RUNNING"
    epoch: int = 0
    value: float | None = None
    best: float | None = None
    reason: str | None = None
    updated: float = field(default_factory=time.monotonic)


class Progress:
    def __init__(self, objective: str, mode: str, max_trials: int, *, time_budget_s: float | None = None,
                 quiet: bool = False, console: Console | None = None):  # fmt: skip
        self.objective, self.mode, self.max_trials = objective, mode, max_trials
        self.time_budget_s = time_budget_s
        self.quiet = quiet
        self.console = console or Console()
        self.rows: dict[str, _Row] = {}
        self.started_at = time.monotonic()
        self._live: Live | None = None

    def __enter__(self) -> Progress:
        # The clock of the trials, as Tune's time budget counts them (Ray has started by now).
        self.started_at = time.monotonic()
        if not self.quiet:
            self._live = Live(
                self.render(), console=self.console, refresh_per_second=2, transient=False
            )
            self._live.__enter__()
        return self

    def __exit__(self, *exc) -> None:
        if self._live is not None:
            self._live.update(self.render())
            self._live.__exit__(*exc)
            self._live = None
            if not self.console.is_terminal or self.console.is_dumb_terminal:
                # Rich prints the final table to a file or pipe without its last newline, so
                # whatever comes next (the summary) would start on the table's last line.
                self.console.line()

    # -- events --------------------------------------------------------------------------------

    def started(self, number: str, params: dict) -> None:
        self.rows[number] = _Row(number, {k: v for k, v in params.items() if k != "trial_number"})
        log.info("trial %s started: %s", number, self.rows[number].params)
        self._refresh()

    def result(self, number: str, metrics: dict) -> None:
        row = self.rows.setdefault(number, _Row(number, {}))
        row.epoch = int(metrics.get("epoch", row.epoch) or 0)
        row.value = _float(metrics.get(self.objective))
        row.best = _float(metrics.get(BEST_OBJECTIVE))
        row.updated = time.monotonic()
        self._refresh()

    def ended(self, number: str, status: str, reason: str | None) -> None:
        row = self.rows.setdefault(number, _Row(number, {}))
        row.status, row.reason, row.updated = status, reason, time.monotonic()
        if status == "FAILED":
            log.warning("trial %s failed: %s", number, reason)
        elif status == "STOPPED":
            log.info("trial %s stopped: %s", number, reason)
        else:
            log.info(
                "trial %s finished after %d epochs, best %s %s",
                number,
                row.epoch,
                self.objective,
                row.best,
            )
        self._refresh()

    def settle(self, outcomes) -> None:
        """Ends the rows Tune never reported as ended (the time budget stops trials silently)."""
        for o in outcomes:
            row = self.rows.get(o.number)
            if row is not None and row.status == "RUNNING":
                self.ended(o.number, o.status, o.reason)

    # -- view ----------------------------------------------------------------------------------

    def best(self) -> _Row | None:
        scored = [r for r in self.rows.values() if r.best is not None and r.status != "FAILED"]
        if not scored:
            return None
        return (
            max(scored, key=lambda r: r.best)
            if self.mode == "max"
            else min(scored, key=lambda r: r.best)
        )

    def render(self) -> Group:
        elapsed = time.monotonic() - self.started_at
        done = sum(r.status != "RUNNING" for r in self.rows.values())
        failed = sum(r.status == "FAILED" for r in self.rows.values())
        best = self.best()
        head = Text.assemble(
            ("gru-search ", "bold"),
            f"{done}/{self.max_trials} trials done, {failed} failed, {_clock(elapsed)} elapsed"
            + (f" (time budget {_clock(self.time_budget_s)})" if self.time_budget_s else ""),
            (
                "  best "
                + (f"{self.objective} {best.best:.4f} (trial {best.number})" if best else "-"),
                "green",
            ),
        )
        shown = list(self.rows.values())
        params = [p for p in KEY_PARAMS if any(p in r.params for r in shown)]
        running = [r for r in shown if r.status == "RUNNING"]
        finished = sorted((r for r in shown if r.status != "RUNNING"), key=lambda r: r.updated)
        rows = sorted(
            running + finished[-max(0, MAX_ROWS - len(running)) :], key=lambda r: r.number
        )
        table = Table(expand=False, box=None, header_style="bold")
        for name in ("trial", "status", *params, "epoch", self.objective, "best"):
            table.add_column(
                name, justify="right" if name not in ("status", "cell", "attention") else "left"
            )
        for r in rows:
            style = {"FAILED": "red", "RUNNING": "yellow"}.get(r.status, "")
            status = (
                r.status.lower() if r.status != "FAILED" else f"failed: {(r.reason or '')[:40]}"
            )
            cells = [format_value(r.params.get(p)) for p in params]
            table.add_row(
                r.number,
                status,
                *cells,
                str(r.epoch),
                format_value(r.value),
                format_value(r.best),
                style=style,
            )
        return Group(head, table)

    def _refresh(self) -> None:
        if self._live is not None:
            self._live.update(self.render())


def _clock(seconds: float) -> str:
    return f"{int(seconds // 60)}:{int(seconds % 60):02d}"


def _float(value) -> float | None:
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def format_value(value) -> str:
    """A table cell: '-' for missing, 4 significant digits for floats."""
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)
