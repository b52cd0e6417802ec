"""Search jobs on a Ray cluster: the one module that talks to Ray's job submission API.

`gru-search launch` submits `gru-search run SPEC` as a Ray Job whose runtime environment carries
the spec and its local data files (`search.staging`); `jobs`, `status`, `logs` and `stop` watch
and end it. Everything that can be checked from here is checked before a job is submitted:
the cluster answers, the tracking server answers, and the tracking store is one that workers on
other machines can share.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from search.errors import (
    ClusterError,
    ClusterUnreachable,
    NotFoundError,
    TrackingError,
    TrackingUnreachable,
)

ADDRESS_ENV = "RAY_ADDRESS"
TERMINAL = frozenset({"SUCCEEDED", "FAILED", "STOPPED"})
# Marks our jobs among others on a shared cluster; `gru-search jobs` lists only these.
METADATA_KEY = "gru_search_spec"
# Seconds Ray waits after SIGTERM before SIGKILL when a job is stopped (Ray's default is 3): the
# run needs them to mark its parent and trial runs KILLED on the tracking server.
STOP_GRACE_S = 30


@dataclass(frozen=True)
class Job:
    job_id: str
    status: str  # PENDING, RUNNING, SUCCEEDED, FAILED or STOPPED
    entrypoint: str
    message: str = ""
    start_time: float | None = None  # seconds since the epoch
    end_time: float | None = None
    metadata: dict[str, str] = field(default_factory=dict)

    @property
    def finished(self) -> bool:
        return self.status in TERMINAL


def resolve_address(address: str | None) -> str:
    """The job API's URL from `--address` or RAY_ADDRESS, with `http://` added when missing."""
    address = address or os.environ.get(ADDRESS_ENV, "")
    if not address:
        raise ClusterError(
            "No Ray cluster address was given; pass --address http://HEAD:8265 "
            f"or set {ADDRESS_ENV}."
        )
    if address.startswith("ray://"):
        raise ClusterError(
            f"The address {address!r} is a Ray client address, but jobs are submitted to the "
            "dashboard's job API; pass --address http://HEAD:8265 instead."
        )
    return address if "://" in address else f"http://{address}"


def auth_headers() -> dict[str, str]:
    """The bearer token for a cluster with Ray's token authentication, found where Ray looks.

    RAY_AUTH_TOKEN, else the file RAY_AUTH_TOKEN_PATH names, else ~/.ray/auth_token. The header
    is passed to the job client explicitly, so it works whatever this process's Ray config says.
    """
    token = os.environ.get("RAY_AUTH_TOKEN", "").strip()
    if not token:
        path = Path(os.environ.get("RAY_AUTH_TOKEN_PATH") or Path.home() / ".ray" / "auth_token")
        with contextlib.suppress(OSError):
            token = path.read_text().strip()
    return {"Authorization": f"Bearer {token}"} if token else {}


def probe(url: str, timeout: float = 5.0, headers: dict[str, str] | None = None) -> str | None:
    """None when `url` answers 200, else a short reason (why it did not)."""
    try:
        request = urllib.request.Request(url, headers=headers or {})
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return None if response.status == 200 else f"HTTP {response.status}"
    except urllib.error.HTTPError as error:
        return f"HTTP {error.code}"
    except (OSError, ValueError) as error:
        return str(getattr(error, "reason", error))


def check_tracking_uri(
    uri: str, *, ping: bool = True, probe: Callable[[str], str | None] | None = None
) -> None:
    """Raise TrackingError unless trials on every node can log to `uri` and (`ping`) it answers."""
    lowered = uri.lower()
    on_this_machine = lowered.startswith(("sqlite:", "file:")) or (
        "://" not in uri and not lowered.startswith("databricks")  # a bare path is a file store
    )
    if on_this_machine:
        raise TrackingError(
            f"tracking.uri is {uri!r}, a store on this machine that trials on other machines "
            "cannot share; set tracking.uri to an MLflow server such as http://mlflow:5000 "
            "(the compose stack's) for a cluster run."
        )
    if ping and lowered.startswith(("http://", "https://")):
        health = uri.rstrip("/") + "/health"
        reason = (probe or globals()["probe"])(health)
        if reason is not None:
            raise TrackingUnreachable(
                f"The MLflow tracking server at {uri} is not answering ({health}: {reason}); "
                "start it (`docker compose up -d mlflow`) or fix tracking.uri, or pass "
                "--no-tracking-check if only the cluster can reach it."
            )


def _default_client(address: str):
    headers = auth_headers()
    reason = probe(address.rstrip("/") + "/api/version", headers=headers)
    if reason in ("HTTP 401", "HTTP 403"):
        problem = "sent no token" if reason == "HTTP 401" else "sent a token it rejected"
        raise ClusterError(
            f"The Ray cluster at {address} uses token authentication and this machine {problem} "
            f"({reason}); set RAY_AUTH_TOKEN to the cluster's token (RAY_AUTH_TOKEN in the stack's .env)."
        )
    if reason is not None:
        raise ClusterUnreachable(
            f"The Ray cluster at {address} is not answering ({reason}); start it "
            "(`docker compose up -d ray-head`) or fix --address / RAY_ADDRESS."
        )
    from ray.job_submission import JobSubmissionClient

    try:
        return JobSubmissionClient(address, headers=headers)
    except (ConnectionError, RuntimeError) as error:
        raise ClusterUnreachable(
            f"The Ray cluster at {address} refused the connection: {error}"
        ) from error


class Cluster:
    """A Ray cluster's job API. `client_factory` is injected so unit tests use a fake."""

    def __init__(self, address: str | None, client_factory: Callable | None = None):
        self.address = resolve_address(address)
        self._client = (client_factory or _default_client)(self.address)

    def submit(
        self,
        entrypoint: str,
        working_dir: str,
        *,
        submission_id: str,
        metadata: dict[str, str],
        env_vars: dict[str, str] | None = None,
    ) -> str:
        runtime_env = {
            "working_dir": working_dir,
            "env_vars": {"RAY_JOB_STOP_WAIT_TIME_S": str(STOP_GRACE_S), **(env_vars or {})},
        }
        try:
            return self._client.submit_job(
                entrypoint=entrypoint,
                submission_id=submission_id,
                runtime_env=runtime_env,
                metadata=metadata,
            )
        except (ConnectionError, RuntimeError, ValueError) as error:
            raise ClusterError(
                f"The Ray cluster at {self.address} refused the job: {error}"
            ) from error

    def jobs(self) -> list[Job]:
        """Our search jobs (submitted by `gru-search launch`), oldest first."""
        details = self._call(self._client.list_jobs)
        jobs = [
            _job(d)
            for d in details
            if getattr(d, "submission_id", None) and METADATA_KEY in (d.metadata or {})
        ]
        return sorted(jobs, key=lambda job: job.start_time or 0)

    def job(self, job_id: str) -> Job:
        return _job(self._call(self._client.get_job_info, job_id))

    def logs(self, job_id: str) -> str:
        return self._call(self._client.get_job_logs, job_id)

    def follow(self, job_id: str) -> Iterator[str]:
        """Yield chunks of the job's log as they arrive, until the job ends."""
        self.job(job_id)  # a clear error for an unknown job before streaming starts
        stream = self._client.tail_job_logs(job_id)
        loop = asyncio.new_event_loop()
        try:
            while True:
                try:
                    yield loop.run_until_complete(stream.__anext__())
                except StopAsyncIteration:
                    return
        finally:
            loop.run_until_complete(stream.aclose())
            loop.close()

    def stop(self, job_id: str, wait_s: float = STOP_GRACE_S + 30) -> Job:
        """Ask the job to stop and wait until it has (its runs are then marked KILLED)."""
        self._call(self._client.stop_job, job_id)
        return self.wait(job_id, timeout_s=wait_s)

    def wait(self, job_id: str, timeout_s: float, poll_s: float = 1.0) -> Job:
        deadline = time.monotonic() + timeout_s
        while True:
            job = self.job(job_id)
            if job.finished or time.monotonic() >= deadline:
                return job
            time.sleep(poll_s)

    def _call(self, method, *args):
        try:
            return method(*args)
        except RuntimeError as error:
            if "does not exist" in str(error) or "404" in str(error):
                raise NotFoundError(
                    f"There is no job {args[0]!r} on the Ray cluster at {self.address}; "
                    "`gru-search jobs` lists the jobs there."
                ) from error
            raise ClusterError(f"The Ray cluster at {self.address} failed: {error}") from error
        except ConnectionError as error:
            raise ClusterUnreachable(
                f"The Ray cluster at {self.address} stopped answering: {error}"
            ) from error


def _job(details) -> Job:
    status = getattr(details.status, "value", details.status)
    to_s = lambda ms: ms / 1000 if ms else None  # noqa: E731 - Ray reports milliseconds
    return Job(
        job_id=details.submission_id,
        status=str(status),
        entrypoint=details.entrypoint,
        message=details.message or "",
        start_time=to_s(details.start_time),
        end_time=to_s(details.end_time),
        metadata=dict(details.metadata or {}),
    )
