"""The tracking server's basic authentication, as the compose stack runs it.

A real `mlflow server --app-name basic-auth` (started by `tests.integration.services` with the
stack's command) refuses a request without credentials or with a wrong password (401) and takes
the right ones (200); a search whose only credentials are environment variables (the password
as a file, as the stack's secrets give it) logs and registers its model; a command with wrong
credentials says in one sentence which variables to set.
"""

from __future__ import annotations

import base64
import os
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path

import pytest
import yaml

from tests.integration import services

pytestmark = [pytest.mark.integration, pytest.mark.slow, pytest.mark.timeout(900)]

CLI = str(Path(sys.executable).with_name("gru-search"))
# An authenticated endpoint: the health path answers anyone, for probes.
SEARCH_EXPERIMENTS = "/api/2.0/mlflow/experiments/search?max_results=1"


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    root = tmp_path_factory.mktemp("auth-server")
    with services.mlflow_server(f"sqlite:///{root}/mlflow.db") as server:
        yield server


def _status(url: str, username: str | None = None, password: str | None = None) -> int:
    request = urllib.request.Request(url)
    if username is not None:
        token = base64.b64encode(f"{username}:{password}".encode()).decode()
        request.add_header("Authorization", f"Basic {token}")
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status
    except urllib.error.HTTPError as error:
        return error.code


def _without_credentials() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith("MLFLOW_TRACKING_")}


def test_requests_without_the_right_credentials_get_401(server):
    url = server.uri + SEARCH_EXPERIMENTS
    assert _status(url) == 401
    assert _status(url, server.username, server.password + "-wrong") == 401
    assert _status(url, "nobody", server.password) == 401
    assert _status(url, server.username, server.password) == 200
    # Probes need no account.
    assert _status(server.uri + "/health") == 200


def test_a_search_with_only_environment_credentials_registers_its_model(server, tmp_path):
    from mlflow import MlflowClient

    spec = {
        "name": "auth-search",
        "data": {"source": "aeon:UnitTest", "task": "classification"},
        "space": {"cell": "gru", "units": 4, "learning_rate": 0.01, "batch_size": 8},
        "search": {
            "algorithm": "random",
            "scheduler": "fifo",
            "max_trials": 1,
            "max_epochs": 1,
            "concurrency": 1,
            "seed": 0,
            "folds": 1,
            "ensemble": 1,
            "refit": False,
            "time_budget_minutes": None,
        },
        "tracking": {"uri": server.uri, "registered_model": "auth-model"},
        "ray": {"address": "local", "num_cpus": 1},
    }
    (tmp_path / "spec.yaml").write_text(yaml.safe_dump(spec, sort_keys=False))
    # The password only as a file, as the stack's containers get it (search.credentials).
    env = {**_without_credentials(), **server.node_env(), "TF_CPP_MIN_LOG_LEVEL": "3"}
    env["RAY_TMPDIR"] = str(Path("/tmp") / f"gsa-{os.getpid()}")  # short: Ray's socket paths
    done = subprocess.run([CLI, "run", "spec.yaml", "--quiet"], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=800)  # fmt: skip
    assert done.returncode == 0, done.stderr[-4000:]
    client = MlflowClient(server.uri, registry_uri=server.uri)
    with services.environment(server.client_env()):
        champion = client.get_model_version_by_alias("auth-model", "champion")
        run = client.get_run(champion.run_id)
    assert run.info.status == "FINISHED"


@pytest.mark.parametrize("password", [None, "wrong-password"])
def test_a_command_without_working_credentials_is_one_sentence(server, tmp_path, password):
    env = _without_credentials()
    if password is not None:
        env.update(server.client_env(), MLFLOW_TRACKING_PASSWORD=password)
    done = subprocess.run([CLI, "trials", "--tracking-uri", server.uri], env=env,
                          capture_output=True, text=True, timeout=300)  # fmt: skip
    assert done.returncode != 0
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert "MLFLOW_TRACKING_USERNAME and MLFLOW_TRACKING_PASSWORD" in lines[0]
    assert ("refused the credentials" in lines[0]) == (password is not None)


def test_a_missing_password_file_is_one_sentence(server, tmp_path):
    env = {**_without_credentials(), **server.node_env()}
    env["MLFLOW_TRACKING_PASSWORD_FILE"] = str(tmp_path / "no-such-secret")
    done = subprocess.run([CLI, "trials", "--tracking-uri", server.uri], env=env,
                          capture_output=True, text=True, timeout=300)  # fmt: skip
    assert done.returncode != 0
    assert done.stderr.strip().splitlines() == [
        f"error: MLFLOW_TRACKING_PASSWORD_FILE names {str(tmp_path / 'no-such-secret')!r}, "
        "which cannot be read (No such file or directory); point it at the secret file or set "
        "MLFLOW_TRACKING_PASSWORD instead."
    ]
