"""`gru-search stop JOB`: stop a search job and wait until its runs are closed as KILLED."""

from __future__ import annotations

from search import cluster


def add_arguments(parser) -> None:
    parser.add_argument("job", help="the job id `gru-search launch` printed")
    parser.add_argument(
        "--address", help=f"the Ray job API, http://HEAD:8265 (default: ${cluster.ADDRESS_ENV})"
    )


def run(args) -> int:
    job = cluster.Cluster(args.address).stop(args.job)
    if job.finished:
        print(f"Job {job.job_id} is {job.status}.")
        return 0
    print(
        f"Job {job.job_id} is still {job.status}; check again with `gru-search status {job.job_id}`."
    )
    return 1
