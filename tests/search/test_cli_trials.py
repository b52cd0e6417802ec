"""`gru-search trials` against a small MLflow store written by search.tracking (no training)."""

from __future__ import annotations

import csv
import io
import json

import pytest

from search.cli import NOT_FOUND_EXIT, main
from search.tracking import Tracker

# (number, best val_accuracy, best epoch, epochs, val_loss at the best epoch); None: failed.
TRIALS = [
    ("0", 0.70, 3, 5, 0.9),
    ("1", None, None, 0, None),  # failed before its first epoch
    ("2", 0.90, 2, 4, 0.4),
    ("10", 0.90, 4, 4, 0.3),  # ties trial 2 on accuracy, wins on val_loss
    ("11", 0.80, 1, 2, 0.5),
]


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    folder = tmp_path_factory.mktemp("store")
    uri = f"sqlite:///{folder}/mlflow.db"
    tracker = Tracker(uri)
    experiment = tracker.ensure_experiment("vowels")
    parent = tracker.start_search(
        experiment, "vowels-1", {"objective": "val_accuracy", "objective_mode": "max"}, "{}"
    )
    for number, best, best_epoch, epochs, val_loss in TRIALS:
        run = tracker.start_trial(
            experiment,
            parent,
            number,
            {"units": 8 * (int(number) + 1), "cell": "gru", "learning_rate": 0.0123456789},
        )
        tracker.log_params(run, {"parameter_count": 100 + int(number)})
        for epoch in range(1, epochs + 1 if best is not None else 1):
            # The last epoch's value is the worst: a table of last values would sort differently.
            tracker.log_metrics(
                run,
                {
                    "val_accuracy": 0.1,
                    "epoch": epoch,
                    "best_val_accuracy": best,
                    "best_epoch": best_epoch,
                    "val_loss_at_best_epoch": val_loss,
                },
                step=epoch,
            )
        if best is None:
            tracker.end_run(run, "FAILED", reason="the training loss became nan at epoch 1.")
        elif number == "11":
            tracker.stop_trial_early(
                experiment, parent, number, "stopped early by the ASHA scheduler at epoch 2 of 5"
            )
        else:
            tracker.end_run(run, "FINISHED")
    refit = tracker.start_refit(experiment, parent, "10", {"units": 88}, epochs=4)
    tracker.end_run(refit, "FINISHED")
    return folder, uri


def _trials(capsys, uri, *args):
    code = main(["trials", "--experiment", "vowels", "--tracking-uri", uri, *args])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_json_parses_and_is_sorted_by_the_best_epochs_objective(store, capsys):
    code, out, _ = _trials(capsys, store[1], "--format", "json")
    assert code == 0
    document = json.loads(out)
    assert document["objective"] == {
        "metric": "val_accuracy",
        "mode": "max",
        "tiebreak": "val_loss",
    }
    rows = document["trials"]
    assert [(r["trial"], r["kind"]) for r in rows] == [
        (10, "trial"),
        (2, "trial"),
        (11, "trial"),
        (0, "trial"),
        (1, "trial"),
        (10, "refit"),
    ]
    first = rows[0]
    assert (first["objective"], first["best_epoch"], first["epochs"], first["tiebreak"]) == (
        0.9,
        4,
        4,
        0.3,
    )
    assert first["params"] == {"cell": "gru", "learning_rate": 0.0123456789, "units": 88}
    assert first["parameter_count"] == 110 and first["status"] == "FINISHED"
    stopped = rows[2]
    assert (stopped["status"], stopped["stopped_by"]) == ("KILLED", "scheduler")
    assert (
        rows[4]["objective"] is None
        and rows[4]["reason"] == "the training loss became nan at epoch 1."
    )
    assert rows[5]["epochs"] == 4 and rows[5]["objective"] is None


def test_top_keeps_the_best_trials_and_their_refits_and_sort_trial_orders_numerically(
    store, capsys
):
    _, out, _ = _trials(capsys, store[1], "--format", "json", "--top", "2")
    assert [(r["trial"], r["kind"]) for r in json.loads(out)["trials"]] == [
        (10, "trial"),
        (2, "trial"),
        (10, "refit"),
    ]
    _, out, _ = _trials(capsys, store[1], "--format", "csv", "--sort", "trial")
    rows = list(csv.DictReader(io.StringIO(out)))
    assert [r["trial"] for r in rows] == ["0", "1", "2", "10", "11", "10"]
    assert (
        rows[3]["val_accuracy"] == "0.9" and rows[3]["epochs"] == "4" and rows[3]["units"] == "88"
    )


def test_piped_text_is_every_column_uncut(store, capsys):
    _, out, _ = _trials(capsys, store[1], "--sort", "trial")
    lines = out.splitlines()
    assert lines[0].startswith("search vowels-1 (") and lines[0].endswith(", RUNNING): 6 runs")
    header = lines[1].split()
    assert header == [
        "trial",
        "status",
        "val_accuracy",
        "best_epoch",
        "epochs",
        "parameters",
        "units",
        "cell",
        "learning_rate",
        "reason",
    ]
    assert lines[2].split()[:7] == ["0", "FINISHED", "0.7000", "3", "5", "100", "8"]
    assert [line.split()[0] for line in lines[2:]] == ["0", "1", "2", "10", "11", "refit-10"]
    assert lines[6].split()[:6] == ["11", "STOPPED", "0.8000", "1", "2", "111"]
    assert lines[6].endswith("stopped early by the ASHA scheduler at epoch 2 of 5")
    assert lines[3].split()[:5] == ["1", "FAILED", "-", "-", "-"]
    assert lines[3].endswith("the training loss became nan at epoch 1.")
    assert lines[7].split()[:2] == ["refit-10", "FINISHED"]


def test_a_terminal_80_columns_wide_gets_what_fits_and_the_rest_named(store):
    from search import trial_listing as listing

    tracker = Tracker(store[1])
    experiment = tracker.experiment_id("vowels")
    search = tracker.searches(experiment)[0]
    rows = [listing.trial_row(r, "val_accuracy") for r in tracker.trials(experiment, search.run_id)]
    rows = listing.ordered(rows, "max")
    rows += [
        rows[0].__class__(
            **{**rows[0].__dict__, "params": {**rows[0].params, "a_long_parameter_name": "x" * 30}}
        )
    ]
    text = listing.as_text(rows, search, "val_accuracy", width=80)
    lines = text.splitlines()
    assert max(len(line) for line in lines) <= 80
    assert lines[1].split() == [
        "trial",
        "status",
        "val_accuracy",
        "best_epoch",
        "epochs",
        "parameters",
        "units",
        "cell",
    ]
    notes = " ".join(line.strip() for line in lines[9:])
    assert (
        "not shown at this width: a_long_parameter_name, learning_rate (--format csv or json"
        in notes
    )
    assert (
        "STOPPED: stopped early by the scheduler (KILLED in MLflow); its best epoch counts" in notes
    )
    assert lines[-1] == "1 failed: the training loss became nan at epoch 1."


def test_spec_names_the_store_and_the_experiment(store, capsys, tmp_path):
    folder, _ = store
    spec = folder / "spec.yaml"
    spec.write_text("name: vowels\ndata: {source: 'aeon:JapaneseVowels'}\n")  # the store beside it
    assert main(["trials", "--spec", str(spec), "--format", "json", "--top", "1"]) == 0
    assert json.loads(capsys.readouterr().out)["trials"][0]["trial"] == 10


def test_a_typo_gets_the_close_names_and_exit_3(store, capsys, tmp_path):
    code = main(["trials", "--experiment", "vowles", "--tracking-uri", store[1]])
    err = capsys.readouterr().err
    assert code == NOT_FOUND_EXIT
    assert err == f"error: There is no experiment 'vowles' in {store[1]}; did you mean `vowels`?\n"
    code = main(["trials", "vowels-2", "--experiment", "vowels", "--tracking-uri", store[1]])
    assert code == NOT_FOUND_EXIT
    assert (
        "There is no search 'vowels-2' in experiment 'vowels'; did you mean `vowels-1`?"
        in capsys.readouterr().err
    )


def test_a_missing_store_is_not_created(tmp_path, capsys):
    missing = tmp_path / "nothing.db"
    assert (
        main(["trials", "--experiment", "x", "--tracking-uri", f"sqlite:///{missing}"])
        == NOT_FOUND_EXIT
    )
    assert capsys.readouterr().err.startswith(
        f"error: There is no MLflow store at {missing}; run a search first"
    )
    assert not missing.exists()


def test_top_must_be_a_positive_count(store, capsys):
    with pytest.raises(SystemExit) as exited:
        main(["trials", "--experiment", "vowels", "--tracking-uri", store[1], "--top", "0"])
    assert exited.value.code == 2
    assert "must be a whole number of trials >= 1, but got '0'" in capsys.readouterr().err
