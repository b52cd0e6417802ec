"""One module per CLI verb: `add_arguments(parser)` and `run(args) -> int`."""

from __future__ import annotations

SPEC_HELP = "the search spec, a YAML file"


def add_spec_argument(parser) -> None:
    """The spec positional: one name (SPEC) and one help text in every verb that takes it."""
    parser.add_argument("spec", metavar="SPEC", help=SPEC_HELP)


def add_store_arguments(parser) -> None:
    """`--spec` and `--tracking-uri`: where `ui`, `trials` and `pull` find the MLflow store."""
    parser.add_argument(
        "--spec",
        metavar="SPEC",
        help=f"{SPEC_HELP}: read its tracking.uri (and names) as `gru-search run SPEC` does",
    )
    add_tracking_uri_argument(parser)


def add_tracking_uri_argument(parser) -> None:
    parser.add_argument(
        "--tracking-uri",
        metavar="URI",
        help="the MLflow tracking URI (default: the spec's tracking.uri, "
        "else $MLFLOW_TRACKING_URI, "
        "else sqlite:///mlflow.db beside the spec or here)",
    )


def open_store(args):
    """(Tracker, spec or None): the store `--spec` / `--tracking-uri` name (search.store's
    rule), checked to exist and answer, and the spec `--spec` names."""
    from search import store
    from search.spec import load_spec

    spec = None if args.spec is None else load_spec(args.spec)
    return store.open_store(store.read_uri(spec, args.tracking_uri)), spec


def add_address_argument(parser) -> None:
    """`--address`, shared by every verb that talks to a Ray cluster's job API."""
    from search.cluster import ADDRESS_ENV  # only the cluster verbs pay for this import

    parser.add_argument(
        "--address", help=f"the Ray job API, http://HEAD:8265 (default: ${ADDRESS_ENV})"
    )


def add_job_argument(parser) -> None:
    parser.add_argument("job", help="the job id `gru-search launch` printed")
