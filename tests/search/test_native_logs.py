"""The CLI's stderr filter: absl-format C++ log lines go, everything else passes byte for byte.

The lines below are copied from real `gru-search` runs (TensorFlow 2.20, XLA, CPU-only machine).
"""

from __future__ import annotations

import logging
import os
import random
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from search import native_logs
from search.cli import quiet_library_loggers
from search.native_logs import LineFilter, is_native_log

ROOT = Path(__file__).resolve().parents[2]

NATIVE = [
    b"WARNING: All log messages before absl::InitializeLog() is called are written to STDERR\n",
    b"I0000 00:00:1795744498.084304   23061 port.cc:153] oneDNN custom operations are on. You may see "
    b"slightly different numerical results due to floating-point round-off errors.\n",
    b"I0000 00:00:1795744498.084690   23061 cudart_stub.cc:31] Could not find cuda drivers on your "
    b"machine, GPU will not be used.\n",
    b"E0000 00:00:1795744381.252406   16400 cuda_platform.cc:52] failed call to cuInit: INTERNAL: "
    b"CUDA error: Failed call to cuInit: UNKNOWN ERROR (303)\n",
    b"E0000 00:00:1795744412.809762   16400 util.cc:131] oneDNN supports DT_BOOL only on platforms "
    b"with AVX-512. Falling back to the default Eigen-based implementation if present.\n",
    # After absl::InitializeLog() the date and time are real.
    b"W1127 02:13:07.123456 140234 gpu_device.cc:2342] Cannot dlopen some GPU libraries.\n",
]

KEPT = [
    b"Traceback (most recent call last):\n",
    b'  File "/work/main/search/cli.py", line 80, in main\n',
    b"error: Spec 'x.yaml' has 1 problem: search.max_trials must be a positive integer, got 0.\n",
    b"interrupted\n",
    # Fatal: why the process is about to die.
    b"F0000 00:00:1795744412.809762   16400 logging.cc:43] Check failed: ptr != nullptr\n",
    b"*** Check failure stack trace: ***\n",
    b"I love this model\n",
    b"E\n",
    b"W0000 00:00:1795744412.8 no file and line\n",
    b"WARNING: something else entirely\n",
    b"2026-11-27 02:13:07,123\tWARNING worker.py:2000 -- a Ray warning through Python logging\n",
    b"\x1b[1;31mred rich text\x1b[0m \xe2\x9c\x93 \xff\xfe not UTF-8\n",
    b"\r  3/10 trials\r  4/10 trials\n",
    b"\n",
]


def run_filter(chunks: list[bytes]) -> bytes:
    lines = LineFilter()
    return b"".join(lines.feed(chunk) for chunk in chunks) + lines.flush()


@pytest.mark.parametrize("line", NATIVE, ids=lambda b: b[:24].decode())
def test_native_lines_are_dropped(line):
    assert is_native_log(line)
    assert run_filter([line]) == b""


@pytest.mark.parametrize("line", KEPT, ids=lambda b: b[:24].decode("ascii", "replace"))
def test_other_lines_pass_unchanged(line):
    assert not is_native_log(line)
    assert run_filter([line]) == line


def test_a_mixed_stream_in_any_chunking_keeps_exactly_the_other_bytes():
    rng = random.Random(7)
    lines = NATIVE + KEPT + NATIVE[:2]
    rng.shuffle(lines)
    # A partial last line without a newline, kept or dropped, is handled like a full one.
    stream = b"".join(lines) + b"error: no newline at the end"
    expected = b"".join(line for line in lines if line in KEPT) + b"error: no newline at the end"
    assert run_filter([stream]) == expected
    assert run_filter([bytes([b]) for b in stream]) == expected  # one byte at a time
    for _ in range(50):
        cuts = sorted(rng.sample(range(1, len(stream)), rng.randint(1, 40)))
        chunks = [stream[i:j] for i, j in zip([0, *cuts], [*cuts, len(stream)], strict=True)]
        assert run_filter(chunks) == expected
    assert run_filter([stream[:-28], NATIVE[1][:60]]) == expected[:-28]  # a cut-off log line


def test_kept_text_streams_through_without_waiting_for_its_newline():
    lines = LineFilter()
    assert lines.feed(b"Traceback (most") == b"Traceback (most"
    assert lines.feed(b" recent call last):") == b" recent call last):"
    assert lines.feed(b"\n") == b"\n"
    assert lines.feed(b"\r  3/10 trials") == b"\r  3/10 trials"
    # Only what could still be an absl prefix waits, and flush() lets it go.
    assert lines.feed(b"\nI0000 00:00:17957") == b"\n"
    assert lines.holding
    assert lines.flush() == b"I0000 00:00:17957"
    assert lines.feed(b"44 more of the same line\n") == b"44 more of the same line\n"
    assert not lines.holding


# -- the real file descriptor, in a child process ---------------------------------------------------

SCRIPT_HEAD = textwrap.dedent("""
    import os, sys
    from search import native_logs
    assert native_logs.install()
""")


def python(body: str, env: dict | None = None, **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-c", SCRIPT_HEAD + textwrap.dedent(body)],
        capture_output=True,
        cwd=ROOT,
        env={**os.environ, **(env or {})},
        timeout=60,
        **kwargs,
    )


def test_c_level_writes_to_fd_2_are_filtered_and_the_exit_code_kept():
    done = python(f"""
        for line in {NATIVE + KEPT!r}:
            os.write(2, line)
        print("from Python's sys.stderr", file=sys.stderr)
        os.write(2, b"last words, no newline")
        sys.exit(3)
    """)
    assert done.returncode == 3
    assert done.stderr == b"".join(KEPT) + b"from Python's sys.stderr\nlast words, no newline"
    assert done.stdout == b""


def test_a_crash_still_delivers_its_last_words():
    done = python(f"""
        os.write(2, {NATIVE[1]!r})
        os.write(2, {KEPT[4] + KEPT[5]!r})
        os.abort()
    """)
    assert done.returncode == -signal.SIGABRT
    assert done.stderr == KEPT[4] + KEPT[5]


def test_a_child_holding_fd_2_does_not_keep_the_cli_from_ending():
    start = time.monotonic()
    done = python("""
        import subprocess
        child = subprocess.Popen(["sleep", "60"], stdout=subprocess.DEVNULL)  # inherits fd 2, as Ray's may
        print(child.pid, flush=True)
        os.write(2, b"error: done\\n")
    """)
    os.kill(int(done.stdout), signal.SIGTERM)
    assert time.monotonic() - start < 30
    assert done.returncode == 0
    assert done.stderr == b"error: done\n"


def test_ctrl_c_reaches_the_process_group_and_the_filter_survives_it():
    process = subprocess.Popen(
        [
            sys.executable,
            "-c",
            SCRIPT_HEAD
            + textwrap.dedent("""
            import time
            try:
                # Inside the try: the signal can arrive as soon as "ready" is out, before sleep().
                print("ready", flush=True)
                time.sleep(60)
            except KeyboardInterrupt:
                print("interrupted", file=sys.stderr)
                sys.exit(130)
        """),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        cwd=ROOT,
        start_new_session=True,
    )
    assert process.stdout.readline() == b"ready\n"
    os.killpg(process.pid, signal.SIGINT)  # what the terminal does on Ctrl-C
    _, err = process.communicate(timeout=30)
    assert process.returncode == 130
    assert err == b"interrupted\n"


def test_the_escape_hatch_keeps_every_line():
    done = subprocess.run(
        [
            sys.executable,
            "-c",
            "import os; from search import native_logs\n"
            "assert not native_logs.install()\n"
            f"os.write(2, {NATIVE[1]!r})",
        ],
        capture_output=True,
        cwd=ROOT,
        env={**os.environ, native_logs.KEEP_ENV: "1"},
        timeout=60,
    )
    assert done.returncode == 0
    assert done.stderr == NATIVE[1]


# -- through the CLI --------------------------------------------------------------------------------


def test_the_cli_installs_the_filter_and_a_bad_spec_still_says_error_and_exits_2(tmp_path):
    spec = tmp_path / "bad.yaml"
    spec.write_text("name: bad\nnot_a_key: 1\n")
    # Stands in for TensorFlow: C++-style lines written to fd 2 once main() is running.
    script = textwrap.dedent(f"""
        import os, sys
        from search import cli
        real_run = cli._command_module
        def noisy(verb):
            os.write(2, {NATIVE[0] + NATIVE[1]!r})
            return real_run(verb)
        cli._command_module = noisy
        sys.argv = ["gru-search", "validate", {str(spec)!r}]
        sys.exit(cli.main())
    """)
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, cwd=ROOT, timeout=60
    )
    assert done.returncode == 2
    assert done.stderr.startswith("error: "), done.stderr
    assert "absl" not in done.stderr and "oneDNN" not in done.stderr
    assert "not_a_key" in done.stderr


def test_a_valid_spec_through_the_module_entry_point_exits_0():
    done = subprocess.run(
        [sys.executable, "-m", "search.cli", "validate", "examples/quickstart.yaml"],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert done.stderr == ""
    assert "is valid" in done.stdout


def test_main_with_argv_leaves_the_callers_stderr_alone(monkeypatch):
    from search import cli

    installs = []
    monkeypatch.setattr(native_logs, "install", lambda: installs.append(1))
    assert cli.main(["validate", str(ROOT / "examples" / "quickstart.yaml")]) == 0
    assert installs == []


# -- Python loggers ---------------------------------------------------------------------------------


def test_only_rays_token_auth_enabled_notice_is_dropped():
    """Against Ray's real functions, so a rename in Ray shows up here (the notice then reappears)."""
    from ray._private.authentication import authentication_token_setup as auth

    quiet_library_loggers()
    quiet_library_loggers()  # idempotent: one filter
    records = []
    handler = logging.Handler()
    handler.emit = records.append
    auth.logger.addHandler(handler)
    try:
        auth._warn_token_auth_enabled()
        auth._warn_token_auth_disabled()
    finally:
        auth.logger.removeHandler(handler)
    assert [r.funcName for r in records] == ["_warn_token_auth_disabled"]
    assert len(auth.logger.filters) == 1


@pytest.mark.slow
def test_mlflows_database_setup_notices_are_gone_from_a_new_store(tmp_path):
    """A fresh process creates a new SQLite store; without the quieting the notice shows (control)."""

    def new_store(quiet: bool, folder: Path) -> str:
        folder.mkdir()
        script = (
            "from search.cli import quiet_library_loggers\n"
            + ("quiet_library_loggers()\n" if quiet else "")
            + "import mlflow\n"
            + f"mlflow.MlflowClient(tracking_uri='sqlite:///{folder}/mlflow.db').search_experiments()\n"
        )
        done = subprocess.run(
            [sys.executable, "-c", script], capture_output=True, text=True, cwd=ROOT, timeout=120
        )
        assert done.returncode == 0, done.stderr
        return done.stderr

    assert "Creating initial MLflow database tables" in new_store(False, tmp_path / "loud")
    quiet = new_store(True, tmp_path / "quiet")
    assert "Creating initial MLflow database tables" not in quiet
    assert "Updating database tables" not in quiet
