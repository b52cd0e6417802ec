"""A real `mlflow server` (SQLite store, artifact proxy) that a search shares with others:
it is SIGKILLed and restarted on the same port while trials log, and two searches finish at
once on the same registered model name. Basic authentication is on, as in the stack."""

from __future__ import annotations

import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import pytest
import yaml

from tests.integration.services import (
    _end_processes_mentioning,
    environment,
    free_port,
    http_ok,
    mlflow_argv,
    mlflow_server_env,
    server_auth,
)
from tests.reliability import faults

pytestmark = [pytest.mark.reliability, pytest.mark.integration, pytest.mark.slow]

CLI = str(Path(sys.executable).with_name("gru-search"))


class Server:
    """`mlflow server` that can be killed and started again on the same port and store."""

    def __init__(self, root: Path):
        self.root, self.port = root, free_port()
        self.uri = f"http://127.0.0.1:{self.port}"
        self.process: subprocess.Popen | None = None
        self.starts = 0
        # Basic auth on, as in the stack; a restart keeps the same admin (its user store).
        self.auth = server_auth(root / "auth", f"sqlite:///{root}/mlflow.db")

    def start(self, timeout: float = 240.0) -> float:
        began = time.monotonic()
        argv = mlflow_argv(f"sqlite:///{self.root}/mlflow.db", self.root / "artifacts", self.port)
        env = mlflow_server_env(self.auth)
        log = open(self.root / f"server-{self.starts}.log", "wb")  # noqa: SIM115 - lives with the process
        self.process = subprocess.Popen(
            argv, stdout=log, stderr=subprocess.STDOUT, env=env, start_new_session=True
        )
        self.starts += 1
        while not http_ok(self.uri + "/health"):
            assert self.process.poll() is None, (
                self.root / f"server-{self.starts - 1}.log"
            ).read_text()[-2000:]
            assert time.monotonic() - began < timeout, "mlflow server did not answer"
            time.sleep(0.3)
        return time.monotonic() - began

    def kill(self) -> None:
        if self.process is not None and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=30)


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    root = tmp_path_factory.mktemp("mlflow-server")
    server = Server(root)
    server.start()
    # Searches here and the `gru-search` processes this starts log in as a user who exported it.
    with environment({"MLFLOW_TRACKING_USERNAME": server.auth.username,
                      "MLFLOW_TRACKING_PASSWORD": server.auth.password}):  # fmt: skip
        yield server
    server.kill()


def _spec(
    folder: Path,
    name: str,
    uri: str,
    space: dict,
    *,
    max_trials=3,
    max_epochs=6,
    model=None,
    concurrency=2,
):
    from search.spec import parse_spec

    return parse_spec(
        {
            "name": name,
            "data": {"source": "aeon:UnitTest", "task": "classification"},
            "space": space,
            "search": {
                "algorithm": "random",
                "scheduler": "fifo",
                "max_trials": max_trials,
                "max_epochs": max_epochs,
                "concurrency": concurrency,
                "objective": {"metric": "val_loss", "mode": "min"},
                "seed": 0,
                "folds": 1,
                "ensemble": 1,
                "refit": False,
                "time_budget_minutes": None,
            },
            "tracking": {"uri": uri, **({"registered_model": model} if model else {})},
            "ray": {"address": "local", "num_cpus": 2},
        },
        folder,
    )


def test_metrics_survive_a_server_restart(server, tmp_path):
    import ray
    from mlflow import MlflowClient

    import search

    spec = _spec(
        tmp_path, "restart-server", server.uri, {"cell": ["gru", "minimal"], "units": [8, 12]}
    )
    outage: dict = {}

    def restart_when_trials_log():
        from tests.reliability.test_driver_restart import _oracle_statuses

        deadline = time.monotonic() + 600
        while "RUNNING" not in _oracle_statuses(Path(spec.results_dir)).values():
            if time.monotonic() > deadline:
                return
            time.sleep(0.3)
        time.sleep(3)  # trials are logging epochs now
        began = time.monotonic()
        server.kill()
        time.sleep(3)
        server.start()
        outage["seconds"] = time.monotonic() - began

    # A local Ray that an earlier test of this process started has workers without this
    # module's credentials in their environment; this search's Ray must start with them.
    ray.shutdown()
    restarter = threading.Thread(target=restart_when_trials_log, daemon=True)
    restarter.start()
    faults.register()
    try:
        result = search.run(
            spec, quiet=True, trainer=faults.make_trainer(str(tmp_path), epoch_sleep_s=1.5)
        )
    finally:
        ray.shutdown()
    restarter.join(timeout=300)
    assert outage, "the server was never restarted"
    client = MlflowClient(server.uri)
    runs = client.search_runs(
        [result.experiment_id], f"tags.`mlflow.parentRunId` = '{result.parent_run_id}'"
    )
    assert len(runs) == len(result.trials) == 3
    logged = 0
    for run in runs:
        outcome = {o.number: o for o in result.trials}[run.data.tags["trial_number"]]
        assert run.info.status == "FINISHED"
        for metric in ("loss", "val_loss", "val_accuracy"):
            steps = [m.step for m in client.get_metric_history(run.info.run_id, metric)]
            assert steps == list(range(1, outcome.epochs + 1)), (metric, steps)
            logged += len(steps)
    assert client.get_run(result.parent_run_id).info.status == "FINISHED"
    print(
        f"\nserver restart: down {outage['seconds']:.1f} s mid-search; {logged} per-epoch values in MLflow, 0 lost"
    )


def test_promotions_racing_on_one_model_leave_the_best_champion(server):
    """Eight processes' worth of finishing searches register and promote at the same moment."""
    from search import registry
    from search.tracking import Tracker

    tracker = Tracker(server.uri)
    experiment = tracker.ensure_experiment("race")
    run = tracker.start_search(experiment, "race", {}, "{}")
    for round_ in range(2):
        name = f"race-{round_}"
        values = random.Random(round_).sample(range(100), 8)
        barrier = threading.Barrier(len(values))
        errors: list = []

        def promote(value, name=name, barrier=barrier, errors=errors):
            try:
                own = Tracker(server.uri)
                barrier.wait()
                candidate = registry.Standing("?", "val_loss", "min", value / 100, "fp")
                registry.register_and_promote(own, name, f"runs:/{run}/model", run, candidate, {})
            except Exception as error:  # reported below
                errors.append(error)

        threads = [threading.Thread(target=promote, args=(v,)) for v in values]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=300)
        assert not errors, errors
        champion = tracker.version_by_alias(name, registry.CHAMPION)
        assert float(champion.tags[registry.VALUE_TAG]) == min(values) / 100
        assert len(tracker.client.search_model_versions(f"name = '{name}'")) == len(values)
        # The lock is gone once everyone is done.
        assert not tracker.client.search_registered_models(f"name = '{name}{registry.LOCK_SUFFIX}'")


def test_two_searches_at_once_register_both_and_crown_the_better(server, tmp_path):
    from mlflow import MlflowClient

    procs = []
    for index, space in enumerate(
        ({"cell": "gru", "units": [8, 16]}, {"cell": "minimal", "units": [4, 12]})
    ):
        folder = tmp_path / f"s{index}"
        folder.mkdir()
        (folder / "spec.yaml").write_text(
            yaml.safe_dump(
                {
                    "name": f"twin-{index}",
                    "data": {"source": "aeon:UnitTest", "task": "classification"},
                    "space": {**space, "learning_rate": 0.02},
                    "search": {
                        "algorithm": "random",
                        "scheduler": "fifo",
                        "max_trials": 2,
                        "max_epochs": 3,
                        "concurrency": 1,
                        "objective": {"metric": "val_loss", "mode": "min"},
                        "seed": 0,
                        "folds": 1,
                        "ensemble": 1,
                        "refit": False,
                        "time_budget_minutes": None,
                    },
                    "tracking": {
                        "uri": server.uri,
                        "experiment": "twins",
                        "registered_model": "twin",
                    },
                    "ray": {"address": "local", "num_cpus": 1},
                }
            )
        )
        # Short: Ray's socket paths under it must stay within 107 bytes.
        ray_tmp = tempfile.mkdtemp(prefix="gsr-", dir="/tmp")
        env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "RAY_TMPDIR": ray_tmp}
        procs.append(
            (
                ray_tmp,
                subprocess.Popen(
                    [CLI, "run", "spec.yaml", "--quiet"],
                    cwd=folder,
                    env=env,
                    stdout=subprocess.PIPE,
                    stderr=subprocess.PIPE,
                    text=True,
                ),
            )
        )
    try:
        outputs = [(p.communicate(timeout=900), p.returncode) for _, p in procs]
    finally:
        for ray_tmp, process in procs:
            if process.poll() is None:
                process.kill()
            _end_processes_mentioning(ray_tmp)
            shutil.rmtree(ray_tmp, ignore_errors=True)
    for (_out, err), code in outputs:
        assert code == 0, err[-3000:]
    client = MlflowClient(server.uri, registry_uri=server.uri)
    versions = client.search_model_versions("name = 'twin'")
    assert len(versions) == 2
    best = min(versions, key=lambda v: float(v.tags["objective_value"]))
    assert client.get_model_version_by_alias("twin", "champion").version == best.version
    print(
        f"\ntwo searches at once: versions {sorted(v.version for v in versions)}, champion {best.version} "
        f"(val_loss {float(best.tags['objective_value']):.4f})"
    )
