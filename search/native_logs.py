"""Keeps TensorFlow's and XLA's C++ log lines off the CLI's stderr.

TensorFlow 2.20+ logs through absl before absl's log is initialised, so TF_CPP_MIN_LOG_LEVEL,
GLOG_minloglevel and ABSL_MIN_LOG_LEVEL never reach those lines ("oneDNN custom operations are
on", "failed call to cuInit", ...). They are written straight to file descriptor 2 from C++, so
the only place to catch them is the descriptor itself: `install()` points fd 2 at a pipe read by a
small filter process that drops lines in absl's format and copies everything else, byte for byte
and as it arrives, to the original stderr.

A process rather than a thread: when C++ aborts the interpreter, the filter outlives it and still
delivers the crash's last words (fatal `F` lines are never dropped).
"""

from __future__ import annotations

import atexit
import contextlib
import os
import re
import select
import signal
import subprocess
import sys

# GRU_SEARCH_NATIVE_LOGS=1 keeps every line (to report a TensorFlow or Ray problem upstream).
KEEP_ENV = "GRU_SEARCH_NATIVE_LOGS"

# absl's prefix: level, MMDD, time, thread id, file:line. Before absl::InitializeLog() the date is
# 0000 and the "time" is 00:00:<epoch seconds>, hence the loose digit runs. Only I, W and E: an
# F (fatal) line says why the process is about to die.
_ABSL_PREFIX = re.compile(rb"[IWE]\d{4} \d+:\d+:\d+\.\d+ +\d+ [^\s:\]]+:\d+\] ")
# Something that could still grow into that prefix: held back until the line says which it is.
_ABSL_START = re.compile(rb"[IWE]\d{0,4}|[IWE]\d{4} [\d:.]*( +(\d+( [^\s:\]]*(:\d*\]?)?)?)?)?")
_PREAMBLE = (
    b"WARNING: All log messages before absl::InitializeLog() is called are written to STDERR"
)
# A held partial line that does not grow within this time is let through, so a prompt or a
# progress line starting with, say, "I2" is never stuck.
_HOLD_S = 0.1


def is_native_log(line: bytes) -> bool:
    """Whether a line (with or without its newline) is one to drop."""
    return bool(_ABSL_PREFIX.match(line)) or line.startswith(_PREAMBLE)


def _undecided(partial: bytes) -> bool:
    """Whether a partial line could still become a line to drop."""
    return bool(_ABSL_START.fullmatch(partial)) or _PREAMBLE.startswith(partial)


class LineFilter:
    """Drops native log lines from a byte stream fed in arbitrary chunks.

    A line is decided as soon as its first bytes allow: kept lines stream through without waiting
    for their newline; only a few bytes that could still be an absl prefix are ever held back.
    """

    def __init__(self) -> None:
        self._held = b""  # start of the current line, not yet decided
        self._mode: str | None = None  # "keep" or "drop" for the rest of the current line

    def feed(self, data: bytes) -> bytes:
        out = []
        while data:
            newline = data.find(b"\n")
            end = len(data) if newline < 0 else newline + 1
            piece, data = data[:end], data[end:]
            if self._mode is None:
                line = self._held + piece
                self._held = b""
                if is_native_log(line):
                    self._mode = "drop"
                elif newline < 0 and _undecided(line):
                    self._held = line
                else:
                    self._mode = "keep"
                    out.append(line)
            elif self._mode == "keep":
                out.append(piece)
            if newline >= 0:
                self._mode = None
        return b"".join(out)

    def flush(self) -> bytes:
        """Lets a held partial line through (no more bytes came to make it a log line)."""
        held, self._held = self._held, b""
        if held:
            self._mode = "keep"
        return held

    @property
    def holding(self) -> bool:
        return bool(self._held)


def _write_all(fd: int, data: bytes) -> None:
    while data:
        data = data[os.write(fd, data) :]


def _ignore_stop_signals() -> None:
    for name in ("SIGINT", "SIGTERM", "SIGQUIT"):
        signal.signal(getattr(signal, name), signal.SIG_IGN)


def _filter_main(data_fd: int, control_fd: int, out_fd: int) -> None:
    """Copies data_fd to out_fd through a LineFilter until the data pipe ends or the parent goes.

    The parent holds the write end of the control pipe and nothing else does (it is not
    inheritable), so its end-of-file means the CLI exited or died. Ray or TensorFlow children may
    still hold the data pipe, so waiting for the data pipe's end alone could outlive the CLI.
    """
    _ignore_stop_signals()
    lines = LineFilter()
    watched = [data_fd, control_fd]
    try:
        while True:
            ready, _, _ = select.select(watched, [], [], _HOLD_S if lines.holding else None)
            if not ready:
                _write_all(out_fd, lines.flush())
                continue
            if data_fd in ready:
                chunk = os.read(data_fd, 65536)
                if not chunk:
                    break
                _write_all(out_fd, lines.feed(chunk))
            if control_fd in ready and data_fd not in ready:
                # The CLI is gone and everything it wrote is already in the pipe: drain, then stop.
                os.set_blocking(data_fd, False)
                try:
                    while chunk := os.read(data_fd, 65536):
                        _write_all(out_fd, lines.feed(chunk))
                except BlockingIOError:
                    pass
                break
        _write_all(out_fd, lines.flush())
    except BrokenPipeError:
        pass  # the reader of stderr went away; the CLI's own writes now fail as they would have


_installed: subprocess.Popen | None = None


def install() -> bool:
    """Routes fd 2 through the filter for the rest of this process; False where it cannot.

    Always, not only on a terminal: the lines are noise in `2> err.log` and in CI logs too, and
    a run that behaves the same everywhere is easier to debug. GRU_SEARCH_NATIVE_LOGS=1 opts out.
    """
    global _installed
    if _installed is not None or os.environ.get(KEEP_ENV, "") not in ("", "0"):
        return _installed is not None
    try:
        sys.stderr.flush()
        original = os.dup(2)
        data_read, data_write = os.pipe()
        control_read, control_write = os.pipe()
    except (OSError, ValueError, AttributeError):  # no fd 2 (closed, or stderr is None)
        return False
    try:
        # -I -S: the filter needs only the standard library, and starts in milliseconds.
        process = subprocess.Popen(
            [sys.executable, "-I", "-S", os.path.abspath(__file__), str(control_read)],
            stdin=data_read,
            stdout=original,
            stderr=original,
            pass_fds=(control_read,),
            # Ctrl-C reaches the whole process group; the filter must live to pass on
            # "interrupted". Ignored from before exec, so there is no window (the filter's
            # lifetime is tied to the CLI's by the control pipe instead).
            preexec_fn=_ignore_stop_signals,
        )
    except (OSError, ValueError):  # ValueError: no preexec_fn or pass_fds (not POSIX)
        for fd in (original, data_read, data_write, control_read, control_write):
            os.close(fd)
        return False
    os.close(data_read)
    os.close(control_read)
    os.dup2(data_write, 2)
    os.close(data_write)
    _installed = process
    atexit.register(_finish, process, original, control_write)
    return True


def _finish(process: subprocess.Popen, original: int, control_write: int) -> None:
    """At exit: give fd 2 back and wait for the filter, so its last lines come before the prompt.

    Registered before TensorFlow and Ray are imported, so it runs after their own exit handlers.
    """
    with contextlib.suppress(OSError, ValueError):
        sys.stderr.flush()
    os.dup2(original, 2)
    os.close(control_write)
    with contextlib.suppress(subprocess.TimeoutExpired):
        process.wait(timeout=5)


if __name__ == "__main__":
    _filter_main(0, int(sys.argv[1]), 1)
