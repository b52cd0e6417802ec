"""The driver dies mid-search (SIGKILL of `gru-search run` and the local Ray it started); the same
command with --resume finishes the search: finished trials are not run again, the same MLflow
parent run is used, no trial appears twice, and the best model is registered once."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest
import yaml

from tests.integration.services import _end_processes_mentioning

pytestmark = [pytest.mark.reliability, pytest.mark.integration, pytest.mark.slow]

CLI = str(Path(sys.executable).with_name("gru-search"))
MAX_TRIALS = 4


def _oracle_statuses(results: Path) -> dict[str, str]:
    statuses = {}
    for path in results.glob("oracle-*/trial_*/trial.json"):
        try:
            trial = json.loads(path.read_text())
        except ValueError:
            continue  # being written
        statuses[trial["trial_id"]] = trial["status"]
    return statuses


@pytest.fixture(scope="module")
def resumed(tmp_path_factory):
    folder = tmp_path_factory.mktemp("driver")
    results = folder / "results"
    spec = folder / "spec.yaml"
    spec.write_text(
        yaml.safe_dump(
            {
                "name": "restart",
                "data": {"source": "aeon:UnitTest", "task": "classification"},
                "space": {"cell": ["gru", "minimal"], "units": [8, 12, 16], "learning_rate": 0.01},
                # 40 epochs without early stopping: a trial trains for seconds, so the kill below lands
                # inside one (with 3 epochs the third trial sometimes finished before the kill).
                "search": {
                    "algorithm": "random",
                    "scheduler": "fifo",
                    "max_trials": MAX_TRIALS,
                    "max_epochs": 40,
                    "patience": None,
                    "concurrency": 1,
                    "objective": {"metric": "val_accuracy", "mode": "max"},
                    "seed": 0,
                    "folds": 1,
                    "ensemble": 1,
                    "refit": False,
                    "time_budget_minutes": None,
                },
                "tracking": {"uri": f"sqlite:///{folder}/mlflow.db"},
                "ray": {"address": "local", "num_cpus": 2},
                "results_dir": str(results),
            }
        )
    )
    # Ray's processes carry this folder on their command line, so the test can end all of them.
    ray_tmp = Path(
        tempfile.mkdtemp(prefix="gsr-", dir="/tmp")
    )  # short: Ray's socket paths max 107 bytes
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "RAY_TMPDIR": str(ray_tmp)}
    log = (folder / "first.log").open("w")
    first = subprocess.Popen(
        [CLI, "run", str(spec), "--quiet"],
        cwd=folder,
        env=env,
        stdout=log,
        stderr=log,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 600
        while True:
            statuses = _oracle_statuses(results)
            done = [n for n, s in statuses.items() if s == "COMPLETED"]
            if len(done) >= 2 and "RUNNING" in statuses.values():
                time.sleep(2)  # into the running trial's training
                break
            assert first.poll() is None, (folder / "first.log").read_text()[-3000:]
            assert time.monotonic() < deadline, "two trials did not finish within 600 s"
            time.sleep(0.3)
        os.killpg(first.pid, signal.SIGKILL)  # the driver and everything in its session
        first.wait(timeout=30)
    finally:
        _end_processes_mentioning(str(ray_tmp))
        log.close()
    before = _oracle_statuses(results)
    state = json.loads((results / "search.json").read_text())
    done = subprocess.run(
        [CLI, "run", str(spec), "--quiet", "--resume"],
        cwd=folder,
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
    )
    _end_processes_mentioning(str(ray_tmp))
    shutil.rmtree(ray_tmp, ignore_errors=True)
    assert done.returncode == 0, done.stderr[-3000:] + done.stdout[-2000:]
    return folder, results, state, before, done


def _client(folder):
    from mlflow import MlflowClient

    uri = f"sqlite:///{folder}/mlflow.db"
    return MlflowClient(uri, registry_uri=uri)


def test_the_same_parent_run_is_resumed(resumed):
    folder, results, state, _, _ = resumed
    client = _client(folder)
    searches = client.search_runs([state["experiment_id"]], "tags.`gru_search.search` = 'true'")
    assert [r.info.run_id for r in searches] == [state["parent_run_id"]]
    parent = client.get_run(state["parent_run_id"])
    assert parent.info.status == "FINISHED" and parent.data.tags["sessions"] == "2"
    assert (
        json.loads((results / "search.json").read_text())["parent_run_id"] == state["parent_run_id"]
    )


def test_finished_trials_are_not_rerun_and_none_appears_twice(resumed):
    folder, results, state, before, _ = resumed
    finished_before = sorted(n for n, s in before.items() if s == "COMPLETED")
    interrupted = sorted(n for n, s in before.items() if s == "RUNNING")
    assert len(finished_before) >= 2 and len(interrupted) == 1
    client = _client(folder)
    runs = client.search_runs(
        [state["experiment_id"]], f"tags.`mlflow.parentRunId` = '{state['parent_run_id']}'"
    )
    by_number: dict[str, list] = {}
    for run in runs:
        by_number.setdefault(run.data.tags["trial_number"], []).append(run)
    assert sorted(by_number) == [str(n) for n in range(MAX_TRIALS)]
    for number in finished_before:
        assert [(r.info.status, r.data.tags["attempt"]) for r in by_number[number]] == [
            ("FINISHED", "1")
        ]
    # The interrupted trial ran again under its own number: attempt 1 KILLED, attempt 2 FINISHED.
    (number,) = interrupted
    attempts = sorted((r.data.tags["attempt"], r.info.status) for r in by_number[number])
    assert attempts[-1][1] == "FINISHED" and all(status == "KILLED" for _, status in attempts[:-1])
    assert all(r.info.status != "RUNNING" for r in runs)
    summary = json.loads((results / "summary.json").read_text())
    assert sorted(summary["trials"]) == [str(n) for n in range(MAX_TRIALS)]
    assert all(t["status"] == "COMPLETED" for t in summary["trials"].values())
    # The oracle, the source of truth, holds each trial once, all finished.
    assert _oracle_statuses(results) == {str(n): "COMPLETED" for n in range(MAX_TRIALS)}
    # Each session ran its own trials: earlier finished ones only in the first Tune experiment.
    second = {
        json.loads(p.read_text())["trial_number"] for p in (results / "ray-1").glob("*/params.json")
    }
    assert not second & set(finished_before)


def test_the_best_model_is_registered_once(resumed):
    folder, _, state, _, _ = resumed
    client = _client(folder)
    versions = client.search_model_versions("name = 'restart'")
    assert len(versions) == 1 and versions[0].run_id == state["parent_run_id"]
    assert client.get_model_version_by_alias("restart", "champion").version == versions[0].version
    print(
        f"\ndriver kill: 1 SIGKILL; trials finished before {sorted(n for n, s in resumed[3].items() if s == 'COMPLETED')}, "
        f"interrupted {[n for n, s in resumed[3].items() if s == 'RUNNING']} ran again; 1 parent run, 1 version"
    )
