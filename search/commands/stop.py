"""`gru-search stop JOB`: stop a search job and wait until its runs are closed as KILLED."""

from __future__ import annotations

from search import cluster
from search.commands import add_address_argument, add_job_argument


def add_arguments(parser) -> None:
    add_job_argument(parser)
    add_address_argument(parser)


def run(args) -> int:
    job = cluster.Cluster(args.address).stop(args.job)
    if job.finished:
        print(f"Job {job.job_id} is {job.status}.")
        return 0
    print(
        f"Job {job.job_id} is still {job.status}; check again with `gru-search status {job.job_id}`."
    )
    return 1
