"""`gru-search trials [SEARCH]`: the trials of a search (default: the latest), best first.

A table on a terminal (as many columns as fit), plain aligned text when piped, or `--format
json|csv` for scripts.
"""

from __future__ import annotations

import shutil
import sys

from search.commands import add_store_arguments, open_store
from search.errors import GruSearchError, NotFoundError
from search.trial_listing import FORMATS, SORTS


def add_arguments(parser) -> None:
    parser.add_argument(
        "search", nargs="?", help="parent run id or run name of the search (default: the latest)"
    )
    parser.add_argument(
        "--experiment",
        help="MLflow experiment (default with --spec: the spec's tracking.experiment)",
    )
    add_store_arguments(parser)
    parser.add_argument(
        "--format", choices=FORMATS, default="table", help="table (default), json or csv"
    )
    parser.add_argument(
        "--sort",
        choices=SORTS,
        default="objective",
        help="best objective first (default) or by trial number",
    )
    parser.add_argument(
        "--top", type=_positive, metavar="N", help="only the N best trials (and their refits)"
    )


def _positive(text: str) -> int:
    import argparse

    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"must be a whole number of trials >= 1, but got {text!r}")
    return int(text)


def run(args) -> int:
    from search import trial_listing as listing
    from search.spec.problems import close_names
    from search.tracking import best_metric

    tracker, spec = open_store(args)
    experiment = args.experiment or (spec.tracking.experiment if spec else None)
    if experiment is None:
        raise GruSearchError(
            "Name the experiment with --experiment NAME, or pass --spec SPEC to use its "
            "tracking.experiment."
        )
    experiment_id = tracker.experiment_id(experiment)
    if experiment_id is None:
        names = tracker.experiment_names()
        raise NotFoundError(
            f"There is no experiment {experiment!r} in {tracker.uri}; "
            f"{close_names(experiment, names, 'experiments')}"
        )
    searches = tracker.searches(experiment_id)
    if not searches:
        raise NotFoundError(
            f"Experiment {experiment!r} in {tracker.uri} holds no search yet; "
            "run one with `gru-search run SPEC`."
        )
    if args.search:
        chosen = [s for s in searches if args.search in (s.run_id, s.name)]
        if not chosen:
            names = [s.name for s in searches]
            raise NotFoundError(
                f"There is no search {args.search!r} in experiment {experiment!r}; "
                f"{close_names(args.search, names, 'searches')}"
            )
        searches = chosen
    search = searches[0]
    objective = search.params.get("objective", "val_loss")
    mode = search.params.get("objective_mode", "min")
    rows = []
    for run in tracker.trials(experiment_id, search.run_id):
        # Runs logged before trials logged best_<objective>: their best epoch from the history.
        old = best_metric(objective) not in run.metrics and objective in run.metrics
        history = tracker.metric_history(run.run_id, objective) if old else None
        rows.append(listing.trial_row(run, objective, history, mode))
    rows = listing.ordered(rows, mode, args.sort, args.top)
    if args.format == "json":
        text = listing.as_json(rows, search, objective, mode)
    elif args.format == "csv":
        text = listing.as_csv(rows, objective).rstrip("\n")
    else:
        width = shutil.get_terminal_size().columns if sys.stdout.isatty() else None
        text = listing.as_text(rows, search, objective, width)
    _print(text)
    return 0


def _print(text: str) -> None:
    import os

    try:
        print(text, flush=True)
    except BrokenPipeError:
        # `gru-search trials | head` closed the pipe: not an error worth a traceback.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
