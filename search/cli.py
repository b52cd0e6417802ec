"""The `gru-search` command line: a thin shell over the Python API.

Each verb lives in `search/commands/<verb>.py` with `add_arguments(parser)` and `run(args) -> int`,
imported only when that verb is used, so `gru-search validate` never pays for TensorFlow.
A user error prints one sentence and exits with the code EXIT_CODES documents; a traceback is a bug.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import os
import sys

from search import native_logs
from search.errors import GruSearchError, NotFoundError, UnreachableError

# verb -> one-line help. The module search.commands.<verb> implements it.
COMMANDS = {
    "validate": "check a spec and print its search space",
    "schema": "print the JSON Schema of a spec, for editors",
    "run": "run a search on this machine (local Ray, MLflow on SQLite by default)",
    "pull": "download a registered model and its metadata",
    "predict": "write a model's predictions for a data file as CSV or Parquet",
    "trials": "list the trials of a search from MLflow",
    "ui": "start the MLflow UI on the embedded store",
    "launch": "submit a search to a Ray cluster as a Ray Job",
    "jobs": "list search jobs on a Ray cluster",
    "status": "show the status of a search job",
    "logs": "print the logs of a search job",
    "stop": "stop a search job",
}

USER_ERROR_EXIT = 2
NOT_FOUND_EXIT = 3
UNREACHABLE_EXIT = 4
INTERRUPTED_EXIT = 130
# What scripts can rely on; printed at the end of `gru-search --help`.
EXIT_CODES = {
    0: "success",
    1: "the job or search failed (status, stop, launch --follow)",
    USER_ERROR_EXIT: "a usage or spec error (the message names what to fix)",
    NOT_FOUND_EXIT: "not found: no such store, experiment, search, model, version, alias or job",
    UNREACHABLE_EXIT: "a server does not answer: the MLflow tracking server or the Ray cluster",
    INTERRUPTED_EXIT: "interrupted (Ctrl-C)",
}


def _command_module(verb: str):
    return importlib.import_module(f"search.commands.{verb.replace('-', '_')}")


def build_parser(verbs: list[str] | None = None) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="gru-search",
        description="Architecture search for GRU-extension recurrent networks.",
        epilog="exit codes:\n" + "\n".join(f"  {n:<4} {text}" for n, text in EXIT_CODES.items()),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {_version()}")
    subparsers = parser.add_subparsers(dest="verb", required=True, metavar="COMMAND")
    for verb, help_text in COMMANDS.items():
        sub = subparsers.add_parser(verb, help=help_text, description=help_text)
        # Only the chosen verb's module is imported to declare its arguments.
        if verbs is None or verb in verbs:
            _command_module(verb).add_arguments(sub)
    return parser


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("gru-search")
    except PackageNotFoundError:  # run from a checkout that was never installed
        return "(not installed)"


def exit_code(error: GruSearchError) -> int:
    if isinstance(error, NotFoundError):
        return NOT_FOUND_EXIT
    if isinstance(error, UnreachableError):
        return UNREACHABLE_EXIT
    return USER_ERROR_EXIT


def missing_backend(error: ModuleNotFoundError) -> str | None:
    """The sentence for Keras failing to import its backend, or None for any other missing module."""
    from cells.backend import BACKENDS, installed, keras_setting

    missing = (error.name or "").partition(".")[0]
    backend = keras_setting()
    if missing != backend or installed(backend):
        return None
    if not any(installed(name) for name in BACKENDS):
        return (
            "Keras needs a backend and neither TensorFlow nor JAX is installed; install "
            "gru-search[tensorflow] or gru-search[jax]."
        )
    install = f"gru-search[{backend}]" if backend in BACKENDS else backend
    return (
        f"Keras is set to the {backend!r} backend (KERAS_BACKEND or ~/.keras/keras.json), which "
        f"is not installed; install {install} or name an installed backend."
    )


def quiet_library_loggers() -> None:
    """Silences the libraries' start-up notices that say nothing to a CLI user.

    Named loggers, set before MLflow or Ray is imported (neither resets a child logger's level or
    filters when it configures its own).
    """
    # "Creating initial MLflow database tables..." / "Updating database tables" on every new store.
    logging.getLogger("mlflow.store.db.utils").setLevel(logging.WARNING)
    # Ray's notice that token authentication is on (it stays on). Only that one function's record
    # is dropped: a future warning from the same module, such as auth being off, still shows.
    auth = logging.getLogger("ray._private.authentication.authentication_token_setup")
    if _drop_token_auth_enabled not in auth.filters:
        auth.addFilter(_drop_token_auth_enabled)


def _drop_token_auth_enabled(record: logging.LogRecord) -> bool:
    return record.funcName != "_warn_token_auth_enabled"


def quiet_output(*, filter_fd2: bool = True) -> None:
    """Keeps start-up noise off stderr: TensorFlow's C++ banner and the libraries' notices.

    A user who wants TensorFlow's lines sets TF_CPP_MIN_LOG_LEVEL; TensorFlow 2.20+ logs some
    before it reads the variable, and native_logs filters those from fd 2 (`filter_fd2`).
    GRU_SEARCH_NATIVE_LOGS=1 keeps everything.
    """
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    if os.environ.get(native_logs.KEEP_ENV, "") in ("", "0"):
        quiet_library_loggers()
        if filter_fd2:
            native_logs.install()


def main(argv: list[str] | None = None) -> int:
    # fd 2 is filtered only for the process's own command line: a caller passing argv (tests, a
    # script embedding the CLI) keeps its stderr as it was.
    quiet_output(filter_fd2=argv is None)
    argv = sys.argv[1:] if argv is None else argv
    chosen = [a for a in argv if a in COMMANDS][:1]
    parser = build_parser(chosen or [])
    args = parser.parse_args(argv)
    try:
        return int(_command_module(args.verb).run(args) or 0)
    except GruSearchError as error:
        print(f"error: {error}", file=sys.stderr)
        return exit_code(error)
    except ModuleNotFoundError as error:
        message = missing_backend(error)
        if message is None:
            raise
        print(f"error: {message}", file=sys.stderr)
        return USER_ERROR_EXIT
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return INTERRUPTED_EXIT


if __name__ == "__main__":
    sys.exit(main())
