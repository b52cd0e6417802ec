"""`gru-search jobs`: the search jobs on a Ray cluster, oldest first."""

from __future__ import annotations

import time

from search import cluster
from search.commands import add_address_argument


def add_arguments(parser) -> None:
    add_address_argument(parser)


def run(args) -> int:
    jobs = cluster.Cluster(args.address).jobs()
    if not jobs:
        print("No search jobs on this cluster; start one with `gru-search launch SPEC`.")
        return 0
    rows = [("JOB", "STATUS", "SPEC", "STARTED")]
    rows += [
        (j.job_id, j.status, j.metadata.get(cluster.METADATA_KEY, ""), when(j.start_time))
        for j in jobs
    ]
    widths = [max(len(row[i]) for row in rows) for i in range(4)]
    for row in rows:
        print(
            "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
        )
    return 0


def when(seconds: float | None) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(seconds)) if seconds else "-"
