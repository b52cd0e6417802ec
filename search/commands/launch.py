"""`gru-search launch SPEC --address http://HEAD:8265`: run a search on a Ray cluster as a Ray Job.

Checks everything it can before submitting (the spec, its data file, the tracking server, the
cluster), then submits `gru-search run spec.yaml` with the spec and its data in the job's
working directory, and prints where to watch it.
"""

from __future__ import annotations

import re
import shlex
import shutil
import sys
import uuid

from search import cluster, staging
from search.commands import add_address_argument, add_spec_argument


def add_arguments(parser) -> None:
    add_spec_argument(parser)
    add_address_argument(parser)
    parser.add_argument(
        "--results-dir",
        help="where Ray Tune keeps trial results on the cluster: a folder every node shares "
        "(the compose stack mounts one at /ray_results) or cloud storage; default: the spec's results_dir",
    )
    parser.add_argument(
        "--no-tracking-check",
        action="store_true",
        help="do not check from here that the tracking server answers (when only the cluster can reach it)",
    )
    parser.add_argument(
        "--follow", action="store_true", help="stream the job's log and wait for it to end"
    )


def run(args) -> int:
    from search.spec import load_spec

    staging.read_mapping(args.spec)  # an unreadable file is one clear error, before parsing
    spec = load_spec(args.spec)
    cluster.check_tracking_uri(spec.tracking.uri, ping=not args.no_tracking_check)
    target = cluster.Cluster(args.address)
    folder = staging.stage(args.spec, results_dir=args.results_dir)
    try:
        job_id = target.submit(
            f"gru-search run {shlex.quote(staging.STAGED_SPEC)}",
            str(folder),
            submission_id=submission_id(spec.name),
            metadata={cluster.METADATA_KEY: spec.name, "tracking_uri": spec.tracking.uri},
        )
    finally:
        # Ray has packed and uploaded the folder once submit_job returns.
        shutil.rmtree(folder, ignore_errors=True)
    print(f"Submitted job {job_id} to {target.address}")
    print(f"  Ray dashboard: {target.address.rstrip('/')}/#/jobs/{job_id}")
    if spec.tracking.uri.startswith(("http://", "https://")):
        print(f"  MLflow UI:     {spec.tracking.uri}")
    print(f"  follow:        gru-search logs {job_id} --follow --address {target.address}")
    if args.results_dir is None:
        # Trials on other nodes keep their checkpoints on their own disks otherwise.
        print(
            "  note: Ray Tune results stay in the job's folder on the head; on several machines "
            "pass --results-dir with a folder every node shares (the compose stack's /ray_results)."
        )
    if not args.follow:
        return 0
    for chunk in target.follow(job_id):
        sys.stdout.write(chunk)
        sys.stdout.flush()
    job = target.wait(job_id, timeout_s=60)
    print(f"Job {job_id} {job.status}" + (f": {job.message}" if job.message else ""))
    return 0 if job.status == "SUCCEEDED" else 1


def submission_id(name: str) -> str:
    """A readable, unique job id: gru-search-<spec name>-<8 hex>."""
    slug = re.sub(r"[^a-z0-9-]+", "-", name.lower()).strip("-")[:40] or "search"
    return f"gru-search-{slug}-{uuid.uuid4().hex[:8]}"
