"""A real search on local Ray where trials meet faults: a worker SIGKILLed mid-trial, a diverging
trial (NaN loss) and one that runs out of memory. The killed trial is retried from its last
checkpoint; the others fail with their reason; the search finishes and no MLflow run stays RUNNING."""

from __future__ import annotations

import os
import signal
import threading
import time
from pathlib import Path

import pytest

from tests.reliability import faults

pytestmark = [pytest.mark.reliability, pytest.mark.integration, pytest.mark.slow]

FIGURES: dict = {}


def _kill_when_ready(signals: Path, killed: list, stop: threading.Event) -> None:
    while not stop.is_set():
        pid_file = signals / faults.PID_FILE
        if pid_file.exists() and pid_file.read_text().strip():
            pid = int(pid_file.read_text())
            (signals / faults.KILLED_FILE).write_text(str(pid))  # first, so the retry does not hang
            os.kill(pid, signal.SIGKILL)
            killed.append(pid)
            return
        time.sleep(0.2)


@pytest.fixture(scope="module")
def searched(tmp_path_factory):
    import ray

    import search
    from search.spec import parse_spec

    folder = tmp_path_factory.mktemp("faults")
    spec = parse_spec(
        {
            "name": "faults",
            "data": {"source": "aeon:UnitTest", "task": "classification"},
            "space": {"cell": ["gru", "minimal"], "units": [8, 12, 16], "learning_rate": 0.01},
            "search": {
                "algorithm": "random",
                "scheduler": "fifo",
                "max_trials": 4,
                "max_epochs": 4,
                "concurrency": 2,
                "objective": {"metric": "val_accuracy", "mode": "max"},
                "max_failures": 1,
                "max_consecutive_failures": 5,
                "seed": 0,
                "folds": 1,
                "ensemble": 1,
                "refit": False,
                "time_budget_minutes": None,
            },
        },
        folder,
    )
    signals = folder / "signals"
    signals.mkdir()
    faults.register()
    killed: list[int] = []
    stop = threading.Event()
    killer = threading.Thread(target=_kill_when_ready, args=(signals, killed, stop), daemon=True)
    killer.start()
    trainer = faults.make_trainer(str(signals), kill="1", nan="2", oom="3")
    try:
        result = search.run(spec, quiet=True, trainer=trainer)
    finally:
        stop.set()
        ray.shutdown()
    return spec, result, killed


def _runs(spec, result):
    from mlflow import MlflowClient

    client = MlflowClient(spec.tracking.uri)
    runs = client.search_runs(
        [result.experiment_id], f"tags.`mlflow.parentRunId` = '{result.parent_run_id}'"
    )
    return client, runs


def test_killed_worker_is_retried_from_its_checkpoint(searched):
    spec, result, killed = searched
    assert len(killed) == 1, "the worker of trial 1 was never killed"
    client, runs = _runs(spec, result)
    attempts = sorted(
        (r for r in runs if r.data.tags["trial_number"] == "1"),
        key=lambda r: int(r.data.tags["attempt"]),
    )
    assert [r.data.tags["attempt"] for r in attempts] == ["1", "2"]
    first, second = attempts
    assert first.info.status == "KILLED"
    assert "worker" in first.data.tags["status_reason"]
    assert second.info.status == "FINISHED"
    resumed = int(second.data.tags["resumed_from_epoch"])
    assert 1 <= resumed <= 2  # killed after epoch 2: the best of epochs 1-2
    # The retry trained only the epochs after its checkpoint, up to max_epochs.
    steps = [m.step for m in client.get_metric_history(second.info.run_id, "val_accuracy")]
    assert steps == list(range(resumed + 1, spec.search.max_epochs + 1))
    outcome = {o.number: o for o in result.trials}["1"]
    assert outcome.status == "COMPLETED" and outcome.checkpoint
    FIGURES["worker kill"] = f"1 SIGKILL, retried from epoch {resumed}, trial completed"


def test_diverged_and_out_of_memory_trials_fail_with_their_reason(searched):
    spec, result, _ = searched
    by_number = {o.number: o for o in result.trials}
    assert by_number["2"].status == "FAILED"
    assert by_number["2"].reason == "the training loss became nan at epoch 1."
    assert by_number["3"].status == "FAILED"
    assert "ResourceExhaustedError" in by_number["3"].reason and "OOM" in by_number["3"].reason
    _, runs = _runs(spec, result)
    failed = {r.data.tags["trial_number"]: r for r in runs if r.info.status == "FAILED"}
    assert sorted(failed) == ["2", "3"]
    assert failed["2"].data.tags["status_reason"] == "the training loss became nan at epoch 1."
    assert "OOM when allocating" in failed["3"].data.tags["status_reason"]
    # Failed on their own: not retried (one attempt each).
    assert sum(r.data.tags["trial_number"] in ("2", "3") for r in runs) == 2


def test_search_finishes_every_trial_and_leaves_no_run_running(searched):
    spec, result, _ = searched
    assert [o.number for o in result.trials] == ["0", "1", "2", "3"]
    assert [o.status for o in result.trials] == ["COMPLETED", "COMPLETED", "FAILED", "FAILED"]
    assert result.best.number in ("0", "1") and result.version == "1"
    client, runs = _runs(spec, result)
    assert all(r.info.status != "RUNNING" for r in runs)
    assert client.get_run(result.parent_run_id).info.status == "FINISHED"
    print(
        f"\nfaults injected 3 (kill, NaN, OOM); trials 4/4 ended, 2 completed as requested, 0 runs RUNNING; {FIGURES}"
    )
