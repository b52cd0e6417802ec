"""The trials of one search as `gru-search trials` lists them: rows, their order, three formats.

Pure Python over `search.tracking.RunRow`s, so it is tested without MLflow. The objective of a
trial is its best epoch's value (the metric `best_<objective>` each epoch logs), and the order is
the search's own: objective, then the tie-breaker at the best epoch, then the trial number.
"""

from __future__ import annotations

import csv
import functools
import io
import json
import math
import textwrap
from dataclasses import dataclass, field

from search.tracking import (
    ATTEMPT_TAG,
    REASON_TAG,
    REFIT_TAG,
    STOPPED_BY_TAG,
    TRIAL_TAG,
    RunRow,
    best_metric,
    finite_or_none,
    tiebreak_metric,
)

FORMATS = ("table", "json", "csv")
SORTS = ("objective", "trial")
TIEBREAK = "val_loss"  # search.trial.TrialSettings.tiebreak; lower is better
# Params every trial run has that are columns of their own, not hyperparameters.
_OWN_COLUMNS = ("parameter_count", "epochs")
_GAP = "  "


@dataclass(frozen=True)
class TrialRow:
    number: int
    kind: str  # "trial" or "refit" (trained again on training + validation; no objective)
    attempt: int
    run_id: str
    status: str  # the MLflow run's status
    stopped_by: str | None
    objective: float | None  # the best epoch's value
    tiebreak: float | None  # the tie-breaker at the best epoch
    best_epoch: int | None
    epochs: int | None
    parameter_count: int | None
    params: dict = field(default_factory=dict)  # hyperparameters, as MLflow stores them (text)
    reason: str = ""

    @property
    def label(self) -> str:
        base = f"refit-{self.number}" if self.kind == "refit" else str(self.number)
        return base if self.attempt == 1 else f"{base} (attempt {self.attempt})"

    @property
    def shown_status(self) -> str:
        """STOPPED for a run the scheduler stopped early (KILLED in MLflow), else MLflow's."""
        return "STOPPED" if self.stopped_by == "scheduler" else self.status


def trial_row(
    run: RunRow, objective: str, history: list[tuple[int, float]] | None = None, mode: str = "min"
) -> TrialRow:
    """One run as a row. `history` ((step, value) of the objective) fills in the best epoch of a
    run logged before trials logged `best_<objective>`."""
    refit = REFIT_TAG in run.tags
    number = run.tags.get(REFIT_TAG if refit else TRIAL_TAG, "")
    value, best_epoch = (
        finite_or_none(run.metrics.get(best_metric(objective))),
        _integer(run.metrics.get("best_epoch")),
    )
    epochs = _integer(run.metrics.get("epoch"))
    if value is None and history:
        step, value = _best(history, mode)
        value = finite_or_none(value)
        best_epoch, epochs = (None if value is None else step), epochs or max(s for s, _ in history)
    if refit:
        epochs = epochs or _integer(run.params.get("epochs"))
    return TrialRow(
        number=int(number) if number.isdigit() else -1,
        kind="refit" if refit else "trial",
        attempt=_integer(run.tags.get(ATTEMPT_TAG)) or 1,
        run_id=run.run_id,
        status=run.status,
        stopped_by=run.tags.get(STOPPED_BY_TAG),
        objective=None if refit else value,
        tiebreak=finite_or_none(run.metrics.get(tiebreak_metric(TIEBREAK))),
        best_epoch=None if refit else best_epoch,
        epochs=epochs,
        parameter_count=_integer(run.params.get("parameter_count")),
        params={k: v for k, v in run.params.items() if k not in _OWN_COLUMNS},
        reason=run.tags.get(REASON_TAG, ""),
    )


def ordered(
    rows: list[TrialRow], mode: str, sort: str = "objective", top: int | None = None
) -> list[TrialRow]:
    """Trials best first (or by number with sort="trial"), then the refits; `top` keeps the
    best `top` trials and their refits."""
    trials = [r for r in rows if r.kind == "trial"]
    best_first = sorted(trials, key=lambda r: _rank(r, mode))
    if top is not None:
        best_first = best_first[:top]
    kept = {r.number for r in best_first}
    shown = (
        best_first
        if sort == "objective"
        else sorted(best_first, key=lambda r: (r.number, r.attempt))
    )
    refits = sorted(
        (r for r in rows if r.kind == "refit" and (top is None or r.number in kept)),
        key=lambda r: r.number,
    )
    return shown + refits


def _rank(row: TrialRow, mode: str) -> tuple:
    if row.objective is None:
        return (1, 0.0, 0.0, row.number, row.attempt)
    primary = -row.objective if mode == "max" else row.objective
    tiebreak = math.inf if row.tiebreak is None else row.tiebreak
    return (0, primary, tiebreak, row.number, row.attempt)


# -- formats -------------------------------------------------------------------------------------


def as_json(rows: list[TrialRow], search: RunRow, objective: str, mode: str) -> str:
    trials = [
        {
            "trial": r.number,
            "kind": r.kind,
            "attempt": r.attempt,
            "run_id": r.run_id,
            "status": r.status,
            "stopped_by": r.stopped_by,
            "objective": r.objective,
            "tiebreak": r.tiebreak,
            "best_epoch": r.best_epoch,
            "epochs": r.epochs,
            "parameter_count": r.parameter_count,
            "params": {k: _typed(v) for k, v in sorted(r.params.items())},
            "reason": r.reason or None,
        }
        for r in rows
    ]
    header = {"run_id": search.run_id, "name": search.name, "status": search.status}
    document = {
        "search": header,
        "objective": {"metric": objective, "mode": mode, "tiebreak": TIEBREAK},
        "trials": trials,
    }
    return json.dumps(document, indent=2)


def as_csv(rows: list[TrialRow], objective: str) -> str:
    params = _param_names(rows)
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(
        [
            "trial",
            "kind",
            "attempt",
            "run_id",
            "status",
            "stopped_by",
            objective,
            f"{TIEBREAK}_at_best_epoch",
            "best_epoch",
            "epochs",
            "parameter_count",
            *params,
            "reason",
        ]
    )
    for r in rows:
        writer.writerow(
            [
                r.number,
                r.kind,
                r.attempt,
                r.run_id,
                r.status,
                r.stopped_by or "",
                _blank(r.objective),
                _blank(r.tiebreak),
                _blank(r.best_epoch),
                _blank(r.epochs),
                _blank(r.parameter_count),
                *(r.params.get(p, "") for p in params),
                r.reason,
            ]
        )
    return out.getvalue()


def as_text(rows: list[TrialRow], search: RunRow, objective: str, width: int | None) -> str:
    """Aligned plain columns. `width` (a terminal's): as many hyperparameter columns as fit, the
    others named below, and the reasons of failed runs under the table. None (piped): every
    column, the reason last, no line cut."""
    fixed = ["trial", "status", objective, "best_epoch", "epochs", "parameters"]
    cells = {
        r.run_id: [
            r.label,
            r.shown_status,
            _cell(r.objective),
            _cell(r.best_epoch),
            _cell(r.epochs),
            _cell(r.parameter_count),
        ]
        for r in rows
    }
    params = _param_names(rows, varying_first=True)
    shown, left_out = params, []
    if width is not None:
        shown, used = [], _width(fixed, rows, cells)
        for p in params:
            extra = len(_GAP) + max(len(p), *(len(_cell_text(r.params.get(p))) for r in rows))
            if used + extra <= width:
                shown.append(p)
                used += extra
            else:
                left_out.append(p)
    header = [*fixed, *shown, *([] if width is not None else ["reason"])]
    table = [header] + [
        [
            *cells[r.run_id],
            *(_cell_text(r.params.get(p)) for p in shown),
            *([] if width is not None else [r.reason]),
        ]
        for r in rows
    ]
    widths = [max(len(line[i]) for line in table) for i in range(len(header))]
    title = f"search {search.name} ({search.run_id}, {search.status}): {len(rows)} runs"
    lines = [
        _GAP.join(c.ljust(w) for c, w in zip(line, widths, strict=True)).rstrip() for line in table
    ]
    if width is None:
        return "\n".join([title, *lines])
    wrap = functools.partial(textwrap.fill, width=max(width, 40), subsequent_indent="  ")
    return "\n".join([wrap(title), *lines, *map(wrap, _notes(rows, left_out))])


def _notes(rows: list[TrialRow], left_out: list[str]) -> list[str]:
    notes = []
    if left_out:
        notes.append(
            f"not shown at this width: {', '.join(left_out)} "
            "(--format csv or json has every column)"
        )
    if any(r.shown_status == "STOPPED" for r in rows):
        notes.append(
            "STOPPED: stopped early by the scheduler (KILLED in MLflow); its best epoch counts"
        )
    notes += [
        f"{r.label} {r.status.lower()}: {r.reason}"
        for r in rows
        if r.reason and r.status not in ("FINISHED",) and r.shown_status != "STOPPED"
    ]
    return notes


def _width(fixed: list[str], rows: list[TrialRow], cells: dict) -> int:
    widths = [
        max(len(name), *(len(cells[r.run_id][i]) for r in rows)) for i, name in enumerate(fixed)
    ]
    return sum(widths) + len(_GAP) * (len(widths) - 1)


def _param_names(rows: list[TrialRow], varying_first: bool = False) -> list[str]:
    names = sorted({k for r in rows for k in r.params})
    if not varying_first:
        return names
    varies = {k for k in names if len({r.params[k] for r in rows if k in r.params}) > 1}
    return [k for k in names if k in varies] + [k for k in names if k not in varies]


def _best(history: list[tuple[int, float]], mode: str) -> tuple[int, float]:
    """(step, value) of the best finite value; of ties the earliest, as a trial picks its best."""
    finite = [(s, v) for s, v in history if math.isfinite(v)] or history
    sign = -1 if mode == "max" else 1
    return min(finite, key=lambda sv: (sign * sv[1], sv[0]))


def _cell(value) -> str:
    if value is None:
        return "-"
    return f"{value:.4f}" if isinstance(value, float) else str(value)


def _cell_text(text: str | None) -> str:
    """A hyperparameter as MLflow stores it, floats shortened to 4 significant digits."""
    if text is None:
        return "-"
    value = _typed(text)
    return f"{value:.4g}" if isinstance(value, float) else text


def _typed(text: str):
    """MLflow keeps params as text; JSON gets numbers, booleans and null back."""
    if text in ("True", "False"):
        return text == "True"
    if text == "None":
        return None
    if "_" in text or text != text.strip():
        return text  # int() and float() would read "1_000" and " 3"
    for kind in (int, float):
        try:
            value = kind(text)
        except ValueError:
            continue
        return value if math.isfinite(value) else text  # JSON has no NaN or Infinity
    return text


def _blank(value) -> str:
    return "" if value is None else str(value)


def _integer(value) -> int | None:
    number = finite_or_none(value)
    return None if number is None else int(number)
