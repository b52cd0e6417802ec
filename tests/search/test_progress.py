"""The live view: what a person reads at a glance while a search runs."""

from __future__ import annotations

import io
from types import SimpleNamespace

from rich.console import Console

from search.progress import MAX_ROWS, Progress


def rendered(progress: Progress) -> str:
    console = Console(file=io.StringIO(), record=True, width=200, color_system=None)
    console.print(progress.render())
    return console.export_text()


def progress(**kwargs) -> Progress:
    return Progress("val_accuracy", "max", 10, quiet=True, **kwargs)


def test_the_header_counts_trials_and_names_the_best_so_far():
    view = progress()
    view.started("00", {"cell": "gru", "units": 16, "trial_number": "00"})
    view.result("00", {"epoch": 3, "val_accuracy": 0.8, "best_objective": 0.9})
    view.ended("00", "COMPLETED", None)
    view.started("01", {"cell": "mgu", "units": 32})
    view.ended("01", "FAILED", "loss became NaN at epoch 2")
    view.started("02", {"cell": "mgu", "units": 8})
    view.result("02", {"epoch": 1, "val_accuracy": 0.95, "best_objective": 0.95})
    text = rendered(view)
    assert "2/10 trials done, 1 failed" in text
    assert "best val_accuracy 0.9500 (trial 02)" in text  # a running trial's best counts too
    assert "failed: loss became NaN at epoch 2" in text
    lines = {line.split()[0]: line.split() for line in text.splitlines()[2:] if line.strip()}
    assert lines["00"][:4] == ["00", "completed", "gru", "16"] and lines["02"][1] == "running"
    assert "trial_number" not in text  # the key that carries the number is not a parameter


def test_a_time_budget_is_shown_beside_the_elapsed_time():
    assert " elapsed (time budget 10:00)" in rendered(progress(time_budget_s=600))
    assert " elapsed  best" in rendered(progress())


def test_settle_ends_the_rows_tune_never_ended():
    view = progress()
    for number in ("00", "01", "02"):
        view.started(number, {"cell": "gru"})
    view.result("00", {"epoch": 4, "best_objective": 0.9})
    view.ended("02", "FAILED", "boom")
    outcomes = [
        SimpleNamespace(number="00", status="COMPLETED", reason=None),
        SimpleNamespace(
            number="01", status="STOPPED", reason="the time budget ended it before its first epoch"
        ),
        SimpleNamespace(
            number="02", status="COMPLETED", reason=None
        ),  # already ended: kept as it was
    ]
    view.settle(outcomes)
    assert [view.rows[n].status for n in ("00", "01", "02")] == ["COMPLETED", "STOPPED", "FAILED"]
    assert "3/10 trials done" in rendered(view)


def test_running_trials_stay_on_screen_when_many_have_finished():
    view = progress()
    for number in range(MAX_ROWS + 6):
        view.started(f"{number:02d}", {"cell": "gru"})
        if number != 1:
            view.ended(f"{number:02d}", "COMPLETED", None)
    shown = [line.split()[0] for line in rendered(view).splitlines()[2:] if line.strip()]
    assert len(shown) == MAX_ROWS and "01" in shown
    assert shown[-1] == f"{MAX_ROWS + 5:02d}"  # the latest finished ones fill the rest


def test_what_follows_the_table_in_a_log_file_starts_on_its_own_line():
    out = io.StringIO()  # not a terminal: `gru-search run spec > run.log`
    console = Console(file=out, width=120)
    with Progress("val_accuracy", "max", 10, console=console) as view:
        view.started("00", {"cell": "gru"})
        view.ended("00", "COMPLETED", None)
    console.print("top trials")
    lines = out.getvalue().splitlines()
    assert lines[-1] == "top trials" and lines[-2].split()[:2] == ["00", "completed"]
