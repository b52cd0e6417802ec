"""`gru-search ui`: the MLflow UI on the store a search wrote (the embedded one by default).

The store must exist: `mlflow ui` on a missing sqlite file would create an empty one. The UI runs
as a child process in its own process group; SIGINT, SIGTERM and SIGHUP here stop the whole group
(`mlflow ui` starts a server process of its own), so nothing is left listening on the port.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time

from search.commands import add_store_arguments, open_store

# Seconds the UI has to stop after SIGTERM before it is killed.
STOP_GRACE_S = 10.0


def add_arguments(parser) -> None:
    add_store_arguments(parser)
    parser.add_argument(
        "--host",
        default="127.0.0.1",
        help="interface to listen on; 0.0.0.0 for every one (default: %(default)s)",
    )
    parser.add_argument(
        "--port", type=int, default=5000, help="port to listen on (default: %(default)s)"
    )


def run(args) -> int:
    from search.tracking import local_artifact_root

    tracker, _ = open_store(args)
    command = [
        sys.executable,
        "-m",
        "mlflow",
        "ui",
        "--backend-store-uri",
        tracker.uri,
        "--host",
        args.host,
        "--port",
        str(args.port),
    ]
    root = local_artifact_root(tracker.uri)
    if root:
        command += ["--default-artifact-root", root]
    print(
        f"MLflow UI on http://{args.host}:{args.port} for {tracker.uri} (Ctrl-C stops it)",
        flush=True,
    )
    return run_child(command)


def run_child(command: list[str]) -> int:
    """Runs `command` until it ends or this process is told to stop; returns its exit status
    (130 when it was stopped by a signal here)."""
    child = subprocess.Popen(command, start_new_session=True)
    stopping: list[int] = []

    def stop(signum, frame):
        stopping.append(signum)
        _signal_group(child, signal.SIGTERM)

    previous = {s: signal.signal(s, stop) for s in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)}
    deadline = None
    try:
        while True:
            try:
                code = child.wait(timeout=0.5)
                break
            except subprocess.TimeoutExpired:
                if stopping and deadline is None:
                    deadline = time.monotonic() + STOP_GRACE_S
                if deadline is not None and time.monotonic() > deadline:
                    _signal_group(child, signal.SIGKILL)
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)
        # The server process `mlflow ui` started may outlive it.
        _signal_group(child, signal.SIGTERM)
    return 130 if stopping else code


def _signal_group(child: subprocess.Popen, signum: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):  # the group has ended
        os.killpg(child.pid, signum)
