"""`gru-search predict MODEL DATA [-o OUT.csv|OUT.parquet]`: a model's predictions for new data."""

from __future__ import annotations

from pathlib import Path

from search.commands import add_store_arguments, open_store


def add_arguments(parser) -> None:
    parser.add_argument(
        "model",
        metavar="MODEL",
        help="a folder from gru-search pull, or a registered NAME, NAME@ALIAS or NAME/VERSION",
    )
    parser.add_argument(
        "data",
        metavar="DATA",
        help="an NPZ (array x: cases, steps, features), or a CSV/Parquet table in the training "
        "layout (id, time and feature columns; for forecasting the time-indexed series)",
    )
    parser.add_argument(
        "-o", "--output", help="a .csv or .parquet file to write (default: CSV on stdout)"
    )
    add_store_arguments(parser)


def run(args) -> int:
    from search import prediction

    # A folder on disk needs no store; only a registered name opens one.
    tracker = None if Path(args.model).exists() else open_store(args)[0]
    frame = prediction.predict(args.model, args.data, tracker=tracker)
    prediction.write(frame, args.output)
    if args.output:
        print(f"wrote {len(frame)} predictions to {args.output}")
    return 0
