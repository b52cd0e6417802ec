"""A real Ray cluster refuses a spec whose trial no node can hold, in one sentence, before any
trial. (On a local Ray, `validate` and `run` refuse it before Ray starts: search.spec.environment_checks.)"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from search.cli import USER_ERROR_EXIT
from tests.integration import services

pytestmark = [pytest.mark.integration, pytest.mark.slow]
CLI = str(Path(sys.executable).with_name("gru-search"))


def test_a_trial_bigger_than_every_node_is_refused_naming_what_the_cluster_has(tmp_path):
    with services.ray_cluster(num_nodes=1, cpus_per_node=2) as ray:
        spec = {
            "name": "too-big",
            "data": {"source": "aeon:UnitTest", "task": "classification"},
            "space": {"cell": "gru", "units": 4},
            "search": {"max_trials": 1, "max_epochs": 1, "concurrency": 1, "folds": 1,
                       "time_budget_minutes": None, "resources_per_trial": {"cpu": 3}},
            "ray": {"address": ray.gcs_address},
        }  # fmt: skip
        (tmp_path / "spec.yaml").write_text(yaml.safe_dump(spec))
        # The cluster's token, as a user who exported it would have it.
        env = {**os.environ, "RAY_AUTH_MODE": "token", "TF_CPP_MIN_LOG_LEVEL": "3"}
        done = subprocess.run(
            [CLI, "run", "spec.yaml", "--quiet"],
            cwd=tmp_path,
            env=env,
            capture_output=True,
            text=True,
            timeout=600,
        )
    assert done.returncode == USER_ERROR_EXIT, done.stderr[-2000:]
    assert (
        "search.resources_per_trial asks for 3 CPU, 0 GPU per trial, but no node of the Ray "
        f"cluster at {ray.gcs_address!r} has that (its nodes have 2 CPU, 0 GPU)"
    ) in done.stderr
    assert "Traceback" not in done.stderr
    # The search's parent run says why it failed.
    from mlflow import MlflowClient

    client = MlflowClient(f"sqlite:///{tmp_path}/mlflow.db")
    [run] = client.search_runs([client.get_experiment_by_name("too-big").experiment_id])
    assert run.info.status == "FAILED"
    assert "resources_per_trial" in run.data.tags.get("status_reason", "")
