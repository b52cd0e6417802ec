"""The `search`, `tracking` and `ray` sections; every field has a default."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from search.spec.fields import Fields, section
from search.spec.model import (
    ALGORITHMS,
    DEFAULT_OBJECTIVE,
    ENSEMBLE_SELECTIONS,
    MAXIMISED_METRICS,
    OBJECTIVE_METRICS,
    SCHEDULERS,
    Objective,
    RaySettings,
    Resources,
    SearchSettings,
    TrackingSettings,
    resolve_ensemble_selection,
)
from search.spec.problems import Problems, join, suggestion

SEARCH_KEYS = (
    "algorithm", "scheduler", "max_trials", "max_epochs", "patience", "grace_period",
    "concurrency", "resources_per_trial", "objective", "seed", "max_failures",
    "max_consecutive_failures", "ensemble", "ensemble_selection", "refit", "time_budget_minutes",
    "folds", "first_trials",
)  # fmt: skip
TRACKING_KEYS = ("uri", "experiment", "registered_model", "artifact_location")
RAY_KEYS = ("address", "num_cpus")

# Relative to the spec's folder (see _absolute_store).
DEFAULT_TRACKING_URI = "sqlite:///mlflow.db"
URI_SCHEMES = re.compile(r"^(sqlite|file|https?|postgresql(\+\w+)?|mysql(\+\w+)?|databricks):")
URI_FORMS = "sqlite:///PATH, http(s)://HOST:PORT, postgresql://..., file:PATH or databricks"
RAY_ADDRESS = re.compile(r"^(local|auto|ray://[^\s/:]+(:\d+)?|[^\s/:]+:\d+)$")
# Trials or epochs beyond this are a typo, not a plan (and would overflow trial ids and tables).
MAX_COUNT = 1_000_000
# Members of the registered averaging model; more only slows prediction for no measurable gain.
MAX_ENSEMBLE = 20
# k-fold cross-validation beyond this costs more than it tells.
MAX_FOLDS = 20
# NumPy's and keras-tuner's seeds are 32-bit.
MAX_SEED = 2**32 - 1
# The dataclass's defaults are the spec's: stated once, in search.spec.model.SearchSettings.
DEFAULTS = SearchSettings()


def parse_search(problems: Problems, value: Any, task: str | None) -> SearchSettings | None:
    path = "search"
    mapping = section(problems, value, path, SEARCH_KEYS)
    f = Fields(problems, mapping, path)
    max_trials = f.integer("max_trials", DEFAULTS.max_trials, minimum=1, maximum=MAX_COUNT)
    max_epochs = f.integer("max_epochs", DEFAULTS.max_epochs, minimum=1, maximum=MAX_COUNT)
    concurrency = f.integer("concurrency", None, minimum=1)
    if concurrency is None:
        concurrency = min(2, max_trials)
    elif concurrency > max_trials:
        problems.expected(
            join(path, "concurrency"), f"at most max_trials ({max_trials})", concurrency
        )
    # A short search (max_epochs below the default grace period) is stoppable from its end.
    grace_period = f.integer("grace_period", min(DEFAULTS.grace_period, max_epochs or 1), minimum=1)
    if grace_period > max_epochs:
        problems.expected(
            join(path, "grace_period"), f"at most max_epochs ({max_epochs})", grace_period
        )
    settings = dict(
        algorithm=f.text("algorithm", "random", choices=ALGORITHMS),
        scheduler=f.text("scheduler", "asha", choices=SCHEDULERS),
        max_trials=max_trials,
        max_epochs=max_epochs,
        # `patience: null` switches early stopping off.
        patience=None
        if "patience" in mapping and mapping["patience"] is None
        else f.integer("patience", DEFAULTS.patience, minimum=1),
        grace_period=grace_period,
        concurrency=concurrency,
        resources_per_trial=_resources(problems, mapping.get("resources_per_trial")),
        objective=_objective(problems, mapping.get("objective"), task),
        seed=f.integer("seed", 0, minimum=0, maximum=MAX_SEED),
        max_failures=f.integer("max_failures", 1, minimum=0),
        max_consecutive_failures=f.integer("max_consecutive_failures", 3, minimum=1),
        ensemble=f.integer("ensemble", DEFAULTS.ensemble, minimum=1, maximum=MAX_ENSEMBLE),
        ensemble_selection=resolve_ensemble_selection(
            f.text("ensemble_selection", DEFAULTS.ensemble_selection, choices=ENSEMBLE_SELECTIONS),
            task,
        ),
        refit=f.boolean("refit", DEFAULTS.refit),
        folds=_folds(problems, mapping),
        # `time_budget_minutes: null` runs until max_trials, however long that takes.
        time_budget_minutes=None
        if "time_budget_minutes" in mapping and mapping["time_budget_minutes"] is None
        else f.number(
            "time_budget_minutes",
            DEFAULTS.time_budget_minutes,
            above=0,
            what="a positive number of minutes, or null for no budget",
        ),
    )
    ensemble = settings["ensemble"]
    # Only a number the spec wrote: the default (5) quietly averages what a short search has.
    if "ensemble" in mapping and None not in (ensemble, max_trials) and ensemble > max_trials:
        problems.expected(join(path, "ensemble"), f"at most max_trials ({max_trials})", ensemble)
    if problems or settings["objective"] is None:
        return None
    return SearchSettings(**settings)


def _folds(problems: Problems, mapping: Any) -> int | None:
    """`search.folds`: auto (or null) for the data-dependent default, 1 for one holdout, or k
    (k rolling origins for forecasting, search.data.folds)."""
    value = mapping.get("folds", "auto") if isinstance(mapping, dict) else "auto"
    if value in ("auto", None):
        return DEFAULTS.folds
    if not isinstance(value, int) or isinstance(value, bool) or not 1 <= value <= MAX_FOLDS:
        problems.expected("search.folds", f"auto or a number of folds from 1 to {MAX_FOLDS}", value)
        return None
    return value


def _resources(problems: Problems, value: Any) -> Resources:
    path = "search.resources_per_trial"
    f = Fields(problems, section(problems, value, path, ("cpu", "gpu")), path)
    return Resources(
        cpu=f.number("cpu", 1.0, above=0, what="a positive number of CPUs"),
        gpu=f.number("gpu", 0.0, at_least=0, what="a number of GPUs >= 0 (fractions share one)"),
    )


def _objective(problems: Problems, value: Any, task: str | None) -> Objective | None:
    path = "search.objective"
    if task is None:
        # The data section is broken; the metric cannot be checked against it.
        return Objective("val_loss", "min")
    allowed = OBJECTIVE_METRICS[task]
    if isinstance(value, str):
        value = {"metric": value}
    mapping = section(problems, value, path, ("metric", "mode"))
    f = Fields(problems, mapping, path)
    metric = f.text("metric", DEFAULT_OBJECTIVE[task])
    # Read before the metric is judged, so a mode that is neither min nor max is reported in the
    # same pass as a bad metric; whether it fits the metric needs a valid metric.
    mode = f.text("mode", None, choices=("min", "max"))
    if metric is not None and metric not in allowed:
        problems.expected(
            join(path, "metric"),
            f"a metric a {task} trial reports: {', '.join(allowed)}{suggestion(metric, allowed)}",
            metric,
        )
        return None
    natural = "max" if metric in MAXIMISED_METRICS else "min"
    if mode is not None and mode != natural:
        better = "higher" if natural == "max" else "lower"
        problems.expected(join(path, "mode"), f"{natural} ({metric} is better {better})", mode)
        return None
    return Objective(metric, natural) if metric else None


def parse_tracking(
    problems: Problems, value: Any, name: str, base_dir: Path
) -> TrackingSettings | None:
    path = "tracking"
    mapping = section(problems, value, path, TRACKING_KEYS)
    f = Fields(problems, mapping, path)
    uri = f.text("uri", DEFAULT_TRACKING_URI)
    if uri is not None and not URI_SCHEMES.match(uri):
        problems.expected(join(path, "uri"), URI_FORMS, uri)
        uri = None
    experiment = f.text("experiment", name)
    model = f.text("registered_model", name)
    artifacts = f.text("artifact_location", None)
    if uri is None or problems:
        return None
    uri = _absolute_store(uri, base_dir)
    local = uri.startswith(("sqlite:", "file:"))
    if artifacts is None and local:
        artifacts = str(base_dir / "mlartifacts")
    elif artifacts is not None and "://" not in artifacts:
        artifacts = str((base_dir / Path(artifacts).expanduser()).resolve())
    given = frozenset(k for k, v in mapping.items() if v is not None)
    return TrackingSettings(uri, experiment, model, artifacts, given)


def _absolute_store(uri: str, base_dir: Path) -> str:
    """sqlite:///relative.db -> sqlite:////<spec folder>/relative.db; other URIs unchanged."""
    if uri.startswith("sqlite:///") and not uri.startswith("sqlite:////"):
        relative = uri[len("sqlite:///") :]
        if relative and relative != ":memory:":
            return "sqlite:///" + str((base_dir / relative).resolve())
    if uri.startswith("file:") and not uri.startswith("file:/"):
        return "file:" + str((base_dir / uri[len("file:") :]).resolve())
    return uri


def parse_ray(problems: Problems, value: Any) -> RaySettings | None:
    path = "ray"
    mapping = section(problems, value, path, RAY_KEYS)
    f = Fields(problems, mapping, path)
    address = f.text("address", "local")
    if address is not None and not RAY_ADDRESS.match(address):
        problems.expected(
            join(path, "address"), "local, auto, ray://HOST:PORT or HOST:PORT", address
        )
        return None
    num_cpus = f.integer("num_cpus", None, minimum=1)
    if num_cpus is not None and address != "local":
        problems.add(
            join(path, "num_cpus"), f"applies only to address local, got address {address!r}"
        )
    if address is None or problems:
        return None
    return RaySettings(address, num_cpus)
