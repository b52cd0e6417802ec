"""`gru-search ui`: a signal here stops the UI and the server process it started."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, IndexError):
        return False
    return state != "Z"  # a zombie has ended; only its parent has not collected it yet


def _started_ui(tmp_path: Path):
    """A stand-in for `mlflow ui`: it starts a server process of its own and writes both pids."""
    pids = tmp_path / "pids"
    ui = (
        "import os, subprocess, sys, time\n"
        "server = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(600)'])\n"
        f"open({str(pids)!r}, 'w').write(f'{{os.getpid()}} {{server.pid}}')\n"
        "time.sleep(600)\n"
    )
    code = (
        "import sys; from search.commands.ui import run_child; "
        f"sys.exit(run_child([sys.executable, '-c', {ui!r}]))"
    )
    wrapper = subprocess.Popen([sys.executable, "-c", code], cwd=ROOT)
    deadline = time.monotonic() + 60
    while not (pids.exists() and len(pids.read_text().split()) == 2):
        assert time.monotonic() < deadline and wrapper.poll() is None
        time.sleep(0.1)
    return wrapper, [int(pid) for pid in pids.read_text().split()]


def test_sigterm_stops_the_ui_and_the_server_it_started(tmp_path):
    wrapper, pids = _started_ui(tmp_path)
    assert all(_alive(pid) for pid in pids)
    wrapper.send_signal(signal.SIGTERM)
    assert wrapper.wait(timeout=30) == 130
    deadline = time.monotonic() + 10
    while any(_alive(pid) for pid in pids) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not any(_alive(pid) for pid in pids)


def test_ctrl_c_stops_them_too(tmp_path):
    wrapper, pids = _started_ui(tmp_path)
    os.kill(wrapper.pid, signal.SIGINT)
    assert wrapper.wait(timeout=30) == 130
    deadline = time.monotonic() + 10
    while any(_alive(pid) for pid in pids) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not any(_alive(pid) for pid in pids)
