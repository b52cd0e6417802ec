"""`gru-search status JOB`: one search job's state; exits 1 when it failed or was stopped."""

from __future__ import annotations

from search import cluster
from search.commands import add_address_argument, add_job_argument
from search.commands.jobs import when


def add_arguments(parser) -> None:
    add_job_argument(parser)
    add_address_argument(parser)


def run(args) -> int:
    job = cluster.Cluster(args.address).job(args.job)
    print(f"job:      {job.job_id}")
    print(f"status:   {job.status}")
    print(f"spec:     {job.metadata.get(cluster.METADATA_KEY, '-')}")
    print(f"tracking: {job.metadata.get('tracking_uri', '-')}")
    print(f"started:  {when(job.start_time)}")
    print(f"ended:    {when(job.end_time)}")
    if job.message:
        print(f"message:  {job.message}")
    return 1 if job.status in ("FAILED", "STOPPED") else 0
