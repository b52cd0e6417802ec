"""`gru-search run SPEC`: run a search on this machine and register the best model."""

from __future__ import annotations

from search.commands import add_spec_argument, add_tracking_uri_argument


def add_arguments(parser) -> None:
    add_spec_argument(parser)
    add_tracking_uri_argument(parser)
    parser.add_argument(
        "--quiet", action="store_true", help="no live table; only the final summary"
    )
    parser.add_argument(
        "--resume",
        action="store_true",
        help="continue the search stored in the spec's results folder, with what is left of its time budget",
    )


def run(args) -> int:
    from search.spec import load_spec
    from search.spec.environment_checks import check_environment
    from search.store import with_store

    # A bad spec, or one this machine cannot run (no data file, no GPU), is answered before
    # TensorFlow and Ray are imported.
    spec = with_store(load_spec(args.spec, checks=check_environment), override=args.tracking_uri)
    from search.driver import run as run_search

    run_search(spec, quiet=args.quiet, resume=args.resume)
    return 0
