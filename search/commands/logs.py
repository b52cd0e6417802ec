"""`gru-search logs JOB [--follow]`: a search job's driver log (the output of `gru-search run`)."""

from __future__ import annotations

import sys

from search import cluster


def add_arguments(parser) -> None:
    parser.add_argument("job", help="the job id `gru-search launch` printed")
    parser.add_argument(
        "--follow", "-f", action="store_true", help="keep printing until the job ends"
    )
    parser.add_argument(
        "--address", help=f"the Ray job API, http://HEAD:8265 (default: ${cluster.ADDRESS_ENV})"
    )


def run(args) -> int:
    target = cluster.Cluster(args.address)
    chunks = target.follow(args.job) if args.follow else [target.logs(args.job)]
    for chunk in chunks:
        sys.stdout.write(chunk)
        sys.stdout.flush()
    return 0
