"""`gru-search validate SPEC`: check a spec and print what it would search, without running it."""

from __future__ import annotations

import argparse

from search.spec import load_spec, summary


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("spec", metavar="SPEC", help="path of the YAML spec file")


def run(args: argparse.Namespace) -> int:
    # A SpecError propagates to search.cli.main, which prints it and exits 2.
    print(summary(load_spec(args.spec)))
    return 0
