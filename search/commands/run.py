"""`gru-search run SPEC`: run a search on this machine and register the best model."""

from __future__ import annotations


def add_arguments(parser) -> None:
    parser.add_argument("spec", help="path to the search spec (YAML)")
    parser.add_argument("--quiet", action="store_true", help="no live table; only the final summary")
    parser.add_argument("--resume", action="store_true", help="continue the search stored in the spec's results folder, with what is left of its time budget")


def run(args) -> int:
    from search.spec import load_spec

    # A bad spec is answered before TensorFlow and Ray are imported.
    spec = load_spec(args.spec)
    from search.run import run as run_search

    run_search(spec, quiet=args.quiet, resume=args.resume)
    return 0
