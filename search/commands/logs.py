"""`gru-search logs JOB [--follow]`: a search job's driver log (the output of `gru-search run`)."""

from __future__ import annotations

import sys

from search import cluster
from search.commands import add_address_argument, add_job_argument


def add_arguments(parser) -> None:
    add_job_argument(parser)
    parser.add_argument(
        "--follow", "-f", action="store_true", help="keep printing until the job ends"
    )
    add_address_argument(parser)


def run(args) -> int:
    target = cluster.Cluster(args.address)
    chunks = target.follow(args.job) if args.follow else [target.logs(args.job)]
    for chunk in chunks:
        sys.stdout.write(chunk)
        sys.stdout.flush()
    return 0
