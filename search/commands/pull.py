"""`gru-search pull NAME[@ALIAS|/VERSION] -o DIR`: a registered model as DIR/model.keras + metadata.json."""

from __future__ import annotations

import os

from search.registry import DEFAULT_TRACKING_URI


def tracking_uri_argument(parser) -> None:
    parser.add_argument(
        "--tracking-uri",
        default=os.environ.get("MLFLOW_TRACKING_URI", DEFAULT_TRACKING_URI),
        help="MLflow tracking URI (default: $MLFLOW_TRACKING_URI or sqlite:///mlflow.db)",
    )


def add_arguments(parser) -> None:
    parser.add_argument("model", help="NAME (alias champion), NAME@ALIAS or NAME/VERSION")
    parser.add_argument("-o", "--output", required=True, help="folder to write model.keras and metadata.json into")
    tracking_uri_argument(parser)


def run(args) -> int:
    from search.registry import pull
    from search.tracking import Tracker

    pulled = pull(Tracker(args.tracking_uri), args.model, args.output)
    print(f"pulled {pulled.ref} (version {pulled.version}) into {args.output}: model.keras, metadata.json")
    return 0
