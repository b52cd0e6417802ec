"""search.cluster, search.staging and the cluster verbs, with a fake job client (no Ray)."""

from __future__ import annotations

import shutil
import types
from pathlib import Path

import pytest
import yaml

from search import cluster, staging
from search.cli import main
from search.errors import ClusterError, DataError, SpecError, TrackingError


class FakeJobClient:
    """The slice of ray.job_submission.JobSubmissionClient that search.cluster uses."""

    def __init__(self, address: str):
        self.address = address
        self.submitted: list[dict] = []
        self.jobs: dict[str, types.SimpleNamespace] = {}
        self.stopped: list[str] = []

    def submit_job(self, *, entrypoint, submission_id, runtime_env, metadata):
        working_dir = Path(runtime_env["working_dir"])
        files = {
            str(p.relative_to(working_dir)): p.read_bytes()
            for p in working_dir.rglob("*")
            if p.is_file()
        }
        self.submitted.append(
            {
                "entrypoint": entrypoint,
                "runtime_env": runtime_env,
                "metadata": metadata,
                "files": files,
            }
        )
        self.jobs[submission_id] = _details(submission_id, "PENDING", entrypoint, metadata)
        return submission_id

    def list_jobs(self):
        driver = _details(None, "SUCCEEDED", "python x.py", {})  # a plain driver, not a submission
        other = _details("someone-else", "RUNNING", "python y.py", {"owner": "them"})
        return [driver, other, *self.jobs.values()]

    def get_job_info(self, job_id):
        if job_id not in self.jobs:
            raise RuntimeError(f"Request failed with status code 404: Job {job_id} does not exist.")
        return self.jobs[job_id]

    def get_job_logs(self, job_id):
        self.get_job_info(job_id)
        return "line 1\nline 2\n"

    async def _tail(self, job_id):
        for chunk in ("a\n", "b\n"):
            yield chunk
        self.jobs[job_id].status = "SUCCEEDED"

    def tail_job_logs(self, job_id):
        return self._tail(job_id)

    def stop_job(self, job_id):
        self.get_job_info(job_id)
        self.stopped.append(job_id)
        self.jobs[job_id].status = "STOPPED"
        return True


def _details(submission_id, status, entrypoint, metadata):
    return types.SimpleNamespace(submission_id=submission_id, status=status, entrypoint=entrypoint, message="",
                                 start_time=1_700_000_000_000, end_time=None, metadata=metadata)  # fmt: skip


@pytest.fixture
def fake(monkeypatch):
    clients: list[FakeJobClient] = []

    def factory(address):
        clients.append(FakeJobClient(address))
        return clients[-1]

    monkeypatch.setattr(cluster, "_default_client", factory)
    monkeypatch.setattr(cluster, "probe", lambda url, timeout=5.0, headers=None: None)
    monkeypatch.delenv(cluster.ADDRESS_ENV, raising=False)
    return clients


# -- addresses and tracking URIs -----------------------------------------------------------------


def test_address_comes_from_the_flag_then_the_environment(monkeypatch):
    monkeypatch.setenv(cluster.ADDRESS_ENV, "head:8265")
    assert cluster.resolve_address(None) == "http://head:8265"
    assert cluster.resolve_address("https://other:443") == "https://other:443"
    monkeypatch.delenv(cluster.ADDRESS_ENV)
    with pytest.raises(
        ClusterError, match=r"pass --address http://HEAD:8265 or set RAY_ADDRESS\.$"
    ):
        cluster.resolve_address(None)
    with pytest.raises(
        ClusterError, match="is a Ray client address, but jobs are submitted to the dashboard"
    ):
        cluster.resolve_address("ray://head:10001")


@pytest.mark.parametrize(
    "uri", ["sqlite:////tmp/mlflow.db", "sqlite:///mlflow.db", "file:/tmp/mlruns", "/tmp/mlruns"]
)
def test_a_store_on_this_machine_is_refused_for_a_cluster_with_the_fix(uri):
    with pytest.raises(
        TrackingError,
        match="cannot share; set tracking.uri to an MLflow server such as http://mlflow:5000",
    ):
        cluster.check_tracking_uri(
            uri, probe=lambda url: pytest.fail("must not probe a local store")
        )


def test_a_tracking_server_that_does_not_answer_is_refused():
    asked = []

    def down(url):
        asked.append(url)
        return "Connection refused"

    with pytest.raises(TrackingError) as caught:
        cluster.check_tracking_uri("http://mlflow:5000/", probe=down)
    assert asked == ["http://mlflow:5000/health"]
    assert str(caught.value).startswith(
        "The MLflow tracking server at http://mlflow:5000/ is not answering (http://mlflow:5000/health: Connection refused); start it "
    )
    cluster.check_tracking_uri("http://mlflow:5000", ping=False, probe=down)  # --no-tracking-check
    cluster.check_tracking_uri("https://mlflow.example:443", probe=lambda url: None)
    cluster.check_tracking_uri("postgresql://db/mlflow", probe=down)  # shared, nothing to ping
    cluster.check_tracking_uri("databricks", probe=down)


def test_a_cluster_that_does_not_answer_is_one_error(monkeypatch):
    monkeypatch.setattr(
        cluster, "probe", lambda url, timeout=5.0, headers=None: "Connection refused"
    )
    with pytest.raises(
        ClusterError,
        match=r"^The Ray cluster at http://head:8265 is not answering \(Connection refused\); start it ",
    ):
        cluster.Cluster("head:8265")


# -- staging -------------------------------------------------------------------------------------


def _spec(folder: Path, **overrides) -> Path:
    mapping = {
        "name": "Cluster_Test.1",
        "data": {"source": "aeon:UnitTest", "task": "classification"},
        "tracking": {"uri": "http://mlflow:5000"},
        "ray": {"address": "local", "num_cpus": 2},
        **overrides,
    }
    path = folder / "spec.yaml"
    path.write_text(yaml.safe_dump(mapping))
    return path


def test_a_local_data_file_travels_with_the_spec(tmp_path):
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "cases.npz").write_bytes(b"not really npz")
    spec = _spec(tmp_path, data={"source": "in/cases.npz", "task": "classification"})
    folder = staging.stage(spec, results_dir="/ray_results")
    try:
        assert sorted(str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file()) == [
            "data/cases.npz",
            "spec.yaml",
        ]
        staged = yaml.safe_load((folder / "spec.yaml").read_text())
        assert staged["data"] == {"source": "data/cases.npz", "task": "classification"}
        assert staged["results_dir"] == "/ray_results"
        assert staged["ray"] == {"address": "auto"}
        assert staged["tracking"] == {"uri": "http://mlflow:5000"}
        assert (folder / "data" / "cases.npz").read_bytes() == b"not really npz"
    finally:
        shutil.rmtree(folder)


def test_a_builtin_dataset_needs_no_copy(tmp_path):
    folder = staging.stage(_spec(tmp_path))
    try:
        assert [p.name for p in folder.iterdir()] == ["spec.yaml"]
        assert (
            yaml.safe_load((folder / "spec.yaml").read_text())["data"]["source"] == "aeon:UnitTest"
        )
    finally:
        shutil.rmtree(folder)


def test_unreadable_spec_and_data_are_one_error_each(tmp_path):
    with pytest.raises(SpecError, match=r"does not exist or cannot be read; check the path\.$"):
        staging.stage(tmp_path / "missing.yaml")
    spec = _spec(tmp_path, data={"source": "gone.csv", "task": "classification"})
    with pytest.raises(
        DataError, match=r"named by data.source does not exist or cannot be read; fix data.source"
    ):
        staging.stage(spec)


# -- the verbs, end to end through the CLI on the fake -------------------------------------------


def test_launch_submits_the_staged_spec_and_says_where_to_watch(
    fake, tmp_path, capsys, monkeypatch
):
    spec = _spec(tmp_path)
    assert main(["launch", str(spec), "--address", "http://head:8265"]) == 0
    (client,) = fake
    (job,) = client.submitted
    assert job["entrypoint"] == "gru-search run spec.yaml"
    assert job["runtime_env"]["env_vars"] == {"RAY_JOB_STOP_WAIT_TIME_S": str(cluster.STOP_GRACE_S)}
    assert yaml.safe_load(job["files"]["spec.yaml"])["ray"] == {"address": "auto"}
    assert job["metadata"] == {
        cluster.METADATA_KEY: "Cluster_Test.1",
        "tracking_uri": "http://mlflow:5000",
    }
    assert not Path(job["runtime_env"]["working_dir"]).exists(), "the staged folder is removed"
    out = capsys.readouterr().out
    (job_id,) = client.jobs
    assert job_id.startswith("gru-search-cluster-test-1-")
    assert f"Submitted job {job_id} to http://head:8265" in out
    assert f"http://head:8265/#/jobs/{job_id}" in out and "MLflow UI:     http://mlflow:5000" in out


def test_launch_checks_everything_before_submitting(fake, tmp_path, capsys, monkeypatch):
    spec = _spec(tmp_path, tracking={"uri": "sqlite:///mlflow.db"})
    assert main(["launch", str(spec), "--address", "http://head:8265"]) == 2
    assert "cannot share; set tracking.uri to an MLflow server" in capsys.readouterr().err
    monkeypatch.setattr(
        cluster, "probe", lambda url, timeout=5.0, headers=None: "Connection refused"
    )
    # A server that does not answer has its own exit code (4), as `gru-search --help` says.
    assert main(["launch", str(_spec(tmp_path)), "--address", "http://head:8265"]) == 4
    assert (
        "error: The MLflow tracking server at http://mlflow:5000 is not answering"
        in capsys.readouterr().err
    )
    assert main(["launch", str(tmp_path / "nope.yaml"), "--address", "http://head:8265"]) == 2
    assert "does not exist or cannot be read" in capsys.readouterr().err
    assert all(not client.submitted for client in fake)


def test_jobs_lists_only_search_jobs(fake, capsys, tmp_path):
    target = cluster.Cluster("http://head:8265")
    target.submit(
        "gru-search run spec.yaml",
        str(tmp_path),
        submission_id="gru-search-a-1",
        metadata={cluster.METADATA_KEY: "a"},
    )
    assert [job.job_id for job in target.jobs()] == ["gru-search-a-1"]
    assert main(["jobs", "--address", "http://head:8265"]) == 0
    out = capsys.readouterr().out
    assert "No search jobs" in out  # a fresh fake client per command: nothing submitted there


def test_status_logs_and_stop_of_an_unknown_job_are_one_sentence(fake, capsys):
    for verb in ("status", "logs", "stop"):
        assert main([verb, "nope", "--address", "http://head:8265"]) == 3  # not found
        err = capsys.readouterr().err
        assert (
            err
            == "error: There is no job 'nope' on the Ray cluster at http://head:8265; `gru-search jobs` lists the jobs there.\n"
        )


def test_follow_streams_until_the_log_ends(fake, tmp_path):
    target = cluster.Cluster("http://head:8265")
    target.submit("x", str(tmp_path), submission_id="j", metadata={})
    assert list(target.follow("j")) == ["a\n", "b\n"]
    assert target.stop("j", wait_s=1).status == "STOPPED"


def test_the_token_is_found_where_ray_looks_and_sent(monkeypatch, tmp_path):
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.delenv("RAY_AUTH_TOKEN", raising=False)
    monkeypatch.delenv("RAY_AUTH_TOKEN_PATH", raising=False)
    assert cluster.auth_headers() == {}
    (tmp_path / ".ray").mkdir()
    (tmp_path / ".ray" / "auth_token").write_text("from-home\n")
    assert cluster.auth_headers() == {"Authorization": "Bearer from-home"}
    (tmp_path / "token").write_text("from-path")
    monkeypatch.setenv("RAY_AUTH_TOKEN_PATH", str(tmp_path / "token"))
    assert cluster.auth_headers() == {"Authorization": "Bearer from-path"}
    monkeypatch.setenv("RAY_AUTH_TOKEN", "from-env")
    sent = []
    monkeypatch.setattr(
        cluster, "probe", lambda url, timeout=5.0, headers=None: sent.append(headers) or "HTTP 401"
    )
    with pytest.raises(
        ClusterError,
        match=r"uses token authentication and this machine sent no token \(HTTP 401\); set RAY_AUTH_TOKEN to the cluster's token",
    ):
        cluster.Cluster("http://head:8265")
    assert sent == [{"Authorization": "Bearer from-env"}]


def test_launch_follow_streams_the_log_and_exits_with_the_job(fake, tmp_path, capsys):
    assert main(["launch", str(_spec(tmp_path)), "--address", "http://head:8265", "--follow"]) == 0
    out = capsys.readouterr().out
    assert out.endswith("a\nb\nJob " + next(iter(fake[0].jobs)) + " SUCCEEDED\n")
