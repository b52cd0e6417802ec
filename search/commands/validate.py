"""`gru-search validate SPEC`: check a spec and print what it would search, without running it."""

from __future__ import annotations

import argparse
import os
import sys

from search.commands import add_spec_argument
from search.spec import load_spec, summary
from search.spec.environment_checks import check_environment
from search.store import with_store


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_spec_argument(parser)


def run(args: argparse.Namespace) -> int:
    # A SpecError propagates to search.cli.main, which prints it and exits 2.
    # The store shown is the one `run` would use ($MLFLOW_TRACKING_URI for a spec that names none);
    # the spec is checked against this machine as `run` checks it.
    text = summary(with_store(load_spec(args.spec, checks=check_environment)))
    try:
        print(text, flush=True)
    except BrokenPipeError:
        # `gru-search validate spec.yaml | head` closed the pipe: not an error worth a traceback.
        # Point stdout at devnull so the interpreter's final flush does not raise again.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    return 0
