"""The multi-machine service, end to end, without Docker.

PostgreSQL, `mlflow server` on it with the artifact proxy, and a Ray cluster of a head and a
second node, all started here by `tests.integration.services` with the commands the compose
file runs. `gru-search launch` submits a tiny search as a Ray Job; the test then checks what a
user relies on: trials ran on both nodes, parent and nested runs are in PostgreSQL through the
server, the best model is registered with alias `champion`, `gru-search pull` from the server
gives a model that reproduces the recorded test metric, and a stopped job leaves no run RUNNING.
The MLflow server runs with basic authentication, as in the stack.
In CI (CI=true) this never skips: missing PostgreSQL binaries fail it.
"""

from __future__ import annotations

import os
import re
import time

import numpy as np
import psycopg
import pytest
import yaml

from search import cluster
from search.cli import main
from tests.integration import services

pytestmark = [
    pytest.mark.integration,
    pytest.mark.cluster,
    pytest.mark.slow,
    pytest.mark.timeout(1500),
]

SEARCH_TIMEOUT_S = 900
TRIAL_ACTOR_CLASSES = {"ImplicitFunc"}  # Ray Tune's actor for a function trainable


@pytest.fixture(scope="module")
def stack():
    if services.postgres_bin_dir() is None and os.environ.get("CI") != "true":
        pytest.skip("PostgreSQL binaries are not installed (.ci/install-services installs them)")
    # Under CI a missing binary is an error raised by services.postgres(), never a skip.
    # The server has basic auth on, as in the compose stack: the nodes hold its account (the
    # password as a file, as compose's secrets give it), and this process, where the test runs
    # `gru-search` and reads MLflow, holds it as a user exports it.
    with (
        services.tracking_stack() as (database, server),
        services.ray_cluster(num_nodes=2, cpus_per_node=1, env=server.node_env()) as ray,
        services.environment(server.client_env()),
    ):
        yield database, server, ray


def _write_spec(folder, name: str, server_uri: str, *, max_trials: int, max_epochs: int) -> str:
    spec = {
        "name": name,
        "data": {"source": "aeon:UnitTest", "task": "classification", "validation": 0.25},
        "space": {
            "cell": ["gru", "minimal"],
            "units": [4, 8],
            "learning_rate": 0.01,
            "batch_size": 8,
        },
        "search": {
            "algorithm": "random",
            "scheduler": "fifo",
            "max_trials": max_trials,
            "max_epochs": max_epochs,
            "patience": None,
            "concurrency": 2,
            "resources_per_trial": {"cpu": 1, "gpu": 0},
            "seed": 0,
            # The cluster's machinery, not the defaults: one holdout, one model, no refit or budget.
            "folds": 1,
            "ensemble": 1,
            "refit": False,
            "time_budget_minutes": None,
        },
        "tracking": {"uri": server_uri},
        # Overwritten by launch (the job joins the cluster): proves a laptop spec runs unchanged.
        "ray": {"address": "local", "num_cpus": 2},
    }
    path = folder / f"{name}.yaml"
    path.write_text(yaml.safe_dump(spec, sort_keys=False))
    return str(path)


def _launch(spec: str, ray, results_dir, capsys) -> str:
    assert (
        main(["launch", spec, "--address", ray.dashboard_url, "--results-dir", str(results_dir)])
        == 0
    )
    out = capsys.readouterr().out
    job_id = re.search(r"Submitted job (\S+) to ", out).group(1)
    assert f"{ray.dashboard_url}/#/jobs/{job_id}" in out
    return job_id


def test_a_launched_search_runs_on_both_nodes_and_lands_in_postgres(stack, tmp_path, capsys):
    from mlflow import MlflowClient

    database, server, ray = stack
    spec = _write_spec(tmp_path, "cluster-e2e", server.uri, max_trials=4, max_epochs=2)
    job_id = _launch(spec, ray, tmp_path / "ray_results", capsys)

    target = cluster.Cluster(ray.dashboard_url)
    job = target.wait(job_id, timeout_s=SEARCH_TIMEOUT_S, poll_s=3)
    logs = target.logs(job_id)
    assert job.status == "SUCCEEDED", f"{job.status}: {job.message}\n{logs[-4000:]}"

    # Through the server.
    client = MlflowClient(tracking_uri=server.uri, registry_uri=server.uri)
    experiment = client.get_experiment_by_name("cluster-e2e")
    runs = client.search_runs([experiment.experiment_id], max_results=100)
    (parent,) = [r for r in runs if r.data.tags.get("gru_search.search") == "true"]
    children = [r for r in runs if r.data.tags.get("mlflow.parentRunId") == parent.info.run_id]
    assert parent.info.status == "FINISHED"
    assert len(children) == 4 and {r.info.status for r in children} == {"FINISHED"}

    # Both nodes trained trials: each node has one CPU and each trial needs one, so with two
    # trials at once Ray must place a trial actor on each node.
    node_ids = {node["node_id"] for node in services.list_nodes(ray.dashboard_url, ray.token)}
    assert len(node_ids) == 2
    actors = services.job_actors(ray.dashboard_url, ray.token, job_id)
    # An actor Tune asked for but cancelled before it was placed has no node.
    trial_nodes = {
        a["node_id"] for a in actors if a["class_name"] in TRIAL_ACTOR_CLASSES and a["node_id"]
    }
    assert trial_nodes == node_ids, [(a["class_name"], a["node_id"]) for a in actors]

    # Directly in PostgreSQL: the server really stores runs there.
    with psycopg.connect(database.conninfo) as connection:
        stored = dict(connection.execute(
            "SELECT run_uuid, status FROM runs WHERE experiment_id = %s", (int(experiment.experiment_id),)
        ).fetchall())  # fmt: skip
        nested = connection.execute(
            "SELECT count(*) FROM tags WHERE key = 'mlflow.parentRunId' AND value = %s",
            (parent.info.run_id,),
        ).fetchone()[0]
        aliases = connection.execute(
            "SELECT version FROM registered_model_aliases WHERE name = %s AND alias = 'champion'",
            ("cluster-e2e",),
        ).fetchall()
    assert stored == {r.info.run_id: r.info.status for r in runs}
    assert nested == 4
    assert len(aliases) == 1

    # Registered with alias champion, pulled from the server, reproduces the recorded metric.
    champion = client.get_model_version_by_alias("cluster-e2e", "champion")
    assert str(champion.version) == str(aliases[0][0])
    out_dir = tmp_path / "pulled"
    assert (
        main(["pull", "cluster-e2e@champion", "-o", str(out_dir), "--tracking-uri", server.uri])
        == 0
    )
    from search.data import prepare
    from search.data.metrics import evaluate
    from search.registry import load_model
    from search.spec import load_spec

    model = load_model(str(out_dir))  # the package's loader: registers the custom layers first
    task = prepare(load_spec(spec).data, seed=0)
    recorded = client.get_run(champion.run_id).data.metrics
    measured = evaluate(model, task, split="test")
    assert recorded["test_accuracy"] == pytest.approx(measured["accuracy"], abs=1e-6)
    assert recorded["test_log_loss"] == pytest.approx(measured["log_loss"], rel=1e-4)


def test_a_stopped_search_leaves_its_runs_killed(stack, tmp_path, capsys):
    from mlflow import MlflowClient

    _, server, ray = stack
    spec = _write_spec(tmp_path, "cluster-stop", server.uri, max_trials=50, max_epochs=200)
    job_id = _launch(spec, ray, tmp_path / "ray_results", capsys)

    client = MlflowClient(tracking_uri=server.uri)
    deadline = time.monotonic() + SEARCH_TIMEOUT_S
    running: list = []
    while not running:
        assert time.monotonic() < deadline, cluster.Cluster(ray.dashboard_url).logs(job_id)[-4000:]
        experiment = client.get_experiment_by_name("cluster-stop")
        if experiment is not None:
            runs = client.search_runs([experiment.experiment_id], "attributes.status = 'RUNNING'")
            running = [r for r in runs if "mlflow.parentRunId" in r.data.tags]
        time.sleep(2)

    assert main(["stop", job_id, "--address", ray.dashboard_url]) == 0
    assert f"Job {job_id} is STOPPED." in capsys.readouterr().out
    runs = client.search_runs([experiment.experiment_id], max_results=1000)
    statuses = {r.info.run_id: r.info.status for r in runs}
    assert "RUNNING" not in statuses.values(), statuses
    (parent,) = [r for r in runs if r.data.tags.get("gru_search.search") == "true"]
    assert parent.info.status == "KILLED"
    assert {statuses[r.info.run_id] for r in running} == {"KILLED"}
    assert np.all([r.info.end_time is not None for r in runs])
