"""`gru-search trials [SEARCH]`: the trials of a search (default: the latest) as a table."""

from __future__ import annotations

from search.commands.pull import tracking_uri_argument
from search.errors import GruSearchError


def add_arguments(parser) -> None:
    parser.add_argument("search", nargs="?", help="parent run id or run name of the search (default: the latest)")
    parser.add_argument("--experiment", required=True, help="MLflow experiment (tracking.experiment in the spec)")
    tracking_uri_argument(parser)


def run(args) -> int:
    from rich.console import Console
    from rich.table import Table

    from search.tracking import REFIT_TAG, Tracker

    tracker = Tracker(args.tracking_uri)
    experiment_id = tracker.experiment_id(args.experiment)
    if experiment_id is None:
        raise GruSearchError(f"No experiment {args.experiment!r} in {tracker.uri!r}; check --experiment and --tracking-uri.")
    searches = tracker.searches(experiment_id)
    if args.search:
        searches = [s for s in searches if args.search in (s.run_id, s.name)]
    if not searches:
        raise GruSearchError(f"No search {args.search or ''!r} in experiment {args.experiment!r}; run `gru-search trials --experiment {args.experiment}` to see the latest.")
    search = searches[0]
    runs = tracker.trials(experiment_id, search.run_id)
    # The refits (search.refit) come after the trials they trained again.
    refits = sorted((t for t in runs if REFIT_TAG in t.tags), key=lambda t: t.tags[REFIT_TAG])
    trials = [t for t in runs if REFIT_TAG not in t.tags] + refits
    objective = search.params.get("objective", "")
    params = sorted({k for t in trials for k in t.params} - {"parameter_count", "epochs"})
    table = Table(title=f"{search.name} ({search.run_id}, {search.status})", header_style="bold")
    for column in ("trial", "status", objective, "epochs", "parameters", *params, "reason"):
        table.add_column(column)
    for t in trials:
        value = t.metrics.get(objective)
        table.add_row(
            f"refit-{t.tags[REFIT_TAG]}" if REFIT_TAG in t.tags else t.tags.get("trial_number", "?"),
            t.status,
            "-" if value is None else f"{value:.4f}",
            str(int(t.metrics.get("epoch", 0))) if "epoch" in t.metrics else t.params.get("epochs", "-"),
            t.params.get("parameter_count", "-"),
            *(t.params.get(p, "-") for p in params),
            t.tags.get("status_reason", ""),
        )
    Console().print(table)
    return 0
