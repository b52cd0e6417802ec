"""One module per CLI verb: `add_arguments(parser)` and `run(args) -> int`."""

from __future__ import annotations


def add_address_argument(parser) -> None:
    """`--address`, shared by every verb that talks to a Ray cluster's job API."""
    from search.cluster import ADDRESS_ENV  # only the cluster verbs pay for this import

    parser.add_argument("--address", help=f"the Ray job API, http://HEAD:8265 (default: ${ADDRESS_ENV})")


def add_job_argument(parser) -> None:
    parser.add_argument("job", help="the job id `gru-search launch` printed")
