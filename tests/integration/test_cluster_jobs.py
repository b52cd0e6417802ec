"""Ray Jobs on a real two-node Ray cluster, with trivial entrypoints (no search, no TensorFlow).

Proves the job plumbing `gru-search launch/jobs/status/logs/stop` stands on: the working dir
travels, logs come back, and a stopped job's process gets SIGTERM and the grace period it needs
to close its MLflow runs.
"""

from __future__ import annotations

import shlex
import sys
import tempfile
import time
from pathlib import Path

import pytest

from search import cluster
from search.cli import NOT_FOUND_EXIT, UNREACHABLE_EXIT, USER_ERROR_EXIT, main
from tests.integration import services

pytestmark = [pytest.mark.integration, pytest.mark.cluster, pytest.mark.timeout(600)]

PYTHON = shlex.quote(sys.executable)


@pytest.fixture(scope="module")
def ray_head():
    with services.ray_cluster(num_nodes=2) as ray:
        yield ray


def _submit(target: cluster.Cluster, entrypoint: str, files: dict[str, str]) -> str:
    with tempfile.TemporaryDirectory() as folder:
        for name, text in files.items():
            Path(folder, name).write_text(text)
        return target.submit(
            entrypoint,
            folder,
            submission_id=f"gru-search-test-{time.monotonic_ns()}",
            metadata={cluster.METADATA_KEY: "test"},
        )


def test_a_job_runs_with_its_working_dir_and_is_listed(ray_head, capsys):
    target = cluster.Cluster(ray_head.dashboard_url)
    job_id = _submit(target, f"{PYTHON} hello.py", {"hello.py": "print(open('note.txt').read())",
                                                      "note.txt": "the working dir travelled"})  # fmt: skip
    job = target.wait(job_id, timeout_s=120)
    assert job.status == "SUCCEEDED", target.logs(job_id)
    assert "the working dir travelled" in target.logs(job_id)

    assert main(["jobs", "--address", ray_head.dashboard_url]) == 0
    listing = capsys.readouterr().out
    assert job_id in listing and "SUCCEEDED" in listing

    assert main(["status", job_id, "--address", ray_head.dashboard_url]) == 0
    assert "status:   SUCCEEDED" in capsys.readouterr().out

    assert main(["logs", job_id, "--follow", "--address", ray_head.dashboard_url]) == 0
    assert "the working dir travelled" in capsys.readouterr().out


def test_a_stopped_job_gets_sigterm_and_time_to_clean_up(ray_head, tmp_path, capsys):
    marker = tmp_path / "cleaned-up"
    # Sleeps past Ray's default 3 s grace in its SIGTERM handler: only STOP_GRACE_S lets it finish.
    script = f"""
import signal, sys, time
def on_term(*_):
    time.sleep(5)
    open({str(marker)!r}, "w").write("closed")
    sys.exit(143)
signal.signal(signal.SIGTERM, on_term)
print("ready", flush=True)
time.sleep(600)
"""
    target = cluster.Cluster(ray_head.dashboard_url)
    job_id = _submit(target, f"{PYTHON} slow.py", {"slow.py": script})
    deadline = time.monotonic() + 120
    while "ready" not in target.logs(job_id):
        assert time.monotonic() < deadline, target.logs(job_id)
        time.sleep(0.5)

    assert main(["stop", job_id, "--address", ray_head.dashboard_url]) == 0
    assert f"Job {job_id} is STOPPED." in capsys.readouterr().out
    assert marker.read_text() == "closed"
    assert main(["status", job_id, "--address", ray_head.dashboard_url]) == 1


def test_unknown_job_is_one_sentence(ray_head, capsys):
    assert main(["status", "no-such-job", "--address", ray_head.dashboard_url]) == NOT_FOUND_EXIT
    err = capsys.readouterr().err
    assert err.startswith("error: There is no job 'no-such-job' on the Ray cluster at ")
    assert err.count("\n") == 1


def test_an_address_that_does_not_answer_is_one_sentence(capsys):
    address = f"http://127.0.0.1:{services.free_port()}"
    assert main(["jobs", "--address", address]) == UNREACHABLE_EXIT
    err = capsys.readouterr().err
    assert err.startswith(f"error: The Ray cluster at {address} is not answering (")
    assert "fix --address / RAY_ADDRESS." in err


def test_a_wrong_token_is_one_sentence(ray_head, capsys, monkeypatch):
    monkeypatch.setenv("RAY_AUTH_TOKEN", "not-the-token")
    assert main(["jobs", "--address", ray_head.dashboard_url]) == USER_ERROR_EXIT
    err = capsys.readouterr().err
    assert (
        "uses token authentication and this machine sent a token it rejected (HTTP 403); set RAY_AUTH_TOKEN"
        in err
    )


def test_launch_refuses_a_bad_tracking_store_before_submitting(ray_head, tmp_path, capsys):
    target = cluster.Cluster(ray_head.dashboard_url)
    before = {job.job_id for job in target.jobs()}
    down = f"http://127.0.0.1:{services.free_port()}"
    for uri, message, code in [
        (
            down,
            f"error: The MLflow tracking server at {down} is not answering ({down}/health: ",
            UNREACHABLE_EXIT,
        ),
        (
            "sqlite:///mlflow.db",
            "a store on this machine that trials on other machines cannot share; ",
            USER_ERROR_EXIT,
        ),
    ]:
        spec = tmp_path / "spec.yaml"
        spec.write_text(
            "name: refused\ndata: {source: 'aeon:UnitTest', task: classification}\n"
            f"tracking: {{uri: '{uri}'}}\n"
        )
        assert main(["launch", str(spec), "--address", ray_head.dashboard_url]) == code
        err = capsys.readouterr().err
        assert err.startswith(message) or message in err, err
        assert err.count("\n") == 1
    assert {job.job_id for job in target.jobs()} == before
