"""`gru-search ui`: the MLflow UI on the embedded store (or any tracking URI)."""

from __future__ import annotations

import subprocess
import sys

from search.commands.pull import tracking_uri_argument


def add_arguments(parser) -> None:
    tracking_uri_argument(parser)
    parser.add_argument("--port", type=int, default=5000)
    parser.add_argument("--host", default="127.0.0.1")


def run(args) -> int:
    from search.tracking import local_artifact_root, resolve_uri

    uri = resolve_uri(args.tracking_uri)
    command = [sys.executable, "-m", "mlflow", "ui", "--backend-store-uri", uri, "--host", args.host, "--port", str(args.port)]
    root = local_artifact_root(uri)
    if root:
        command += ["--default-artifact-root", root]
    print(f"MLflow UI on http://{args.host}:{args.port} (Ctrl-C stops it)")
    return subprocess.call(command)
