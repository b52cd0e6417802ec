"""The end of a search: evaluate the best trial once, log and register it, print the summary."""

from __future__ import annotations

import contextlib
import dataclasses
import json
import logging
import math
import tempfile
import time
from pathlib import Path

from search import packaging, registry
from search.progress import format_value
from search.tracking import best_metric

log = logging.getLogger("gru_search")
TOP_TRIALS = 5


def finish(spec, task, tracker, result, members, started: float, refits=(), weights=None):
    """Test metrics, plots, the logged model, the registered version and the champion decision.

    `members` are the chosen trials, best ranked first; more than one are averaged into the
    registered model with `weights` (search.ensemble_selection; None: equal), and its metadata
    names them all. `refits` (search.refit), one per member, replace the members' own models
    with the ones trained on training + validation.
    """
    from search.data.metrics import evaluate, predict

    best = members[0]
    ensemble_of = [m.number for m in members]
    weights = _normalised(weights or [1] * len(members))
    refit = _refit_record(refits, task)
    # Where the time after the trials goes (search.log, summary.json): what budget.reserve_s
    # has to cover, measured rather than guessed.
    phases = _Phases()
    with phases("loading"):
        model, model_file = _registered_model(members, refits, result.results_dir, weights)
    with phases("testing"):
        # Once: an ensemble of 25 MiniRocket models takes a minute over a long test split.
        test_prediction = predict(model, task.x_test)
        test_metrics = evaluate(model, task, split="test", prediction=test_prediction)
    test_metrics = {k: float(v) for k, v in test_metrics.items()}
    objective, mode = spec.search.objective.metric, spec.search.objective.mode
    run_id = result.parent_run_id
    with phases("logging"):
        tracker.log_metrics(run_id, {f"test_{k}": v for k, v in test_metrics.items()})
        # At the last step of the best-so-far history that search.driver logged as trials ended.
        tracker.log_metrics(
            run_id, {best_metric(objective): best.objective}, step=len(result.trials)
        )
        tracker.log_params(
            run_id,
            {f"best.{k}": v for k, v in best.values.items()} | {"best.trial_number": best.number},
        )
        _log_plots(tracker, run_id, best, result.trials, objective, mode)
        _log_reports(tracker, run_id, test_prediction, task, result.trials, objective, mode)

    metadata = _metadata(spec, task, run_id, best, ensemble_of, refit, test_metrics)
    metadata["ensemble_weights"] = weights
    name = spec.tracking.registered_model
    version, decision = _register(
        tracker, name, run_id, model_file, metadata, task, spec.search.objective, best, phases
    )
    elapsed = time.perf_counter() - started
    model_uri = f"models:/{name}/{version}"
    summary = _summary_record(
        result, members, refit, test_metrics, model_uri, decision, objective, elapsed
    )
    summary["ensemble_weights"] = weights
    summary["registration_s"] = phases.rounded()
    log.info("testing and registering the average of %d trial(s) took %s", len(members), phases)
    tracker.log_dict(run_id, summary, "summary.json")
    tracker.set_tags(run_id, {"registered_model": name, "registered_version": version})
    tracker.end_run(run_id, "FINISHED")
    (Path(result.results_dir) / "summary.json").write_text(
        json.dumps(summary, indent=2, default=str)
    )
    log.info("search finished: %s", summary)
    return dataclasses.replace(
        result,
        best=best,
        ensemble_of=tuple(ensemble_of),
        ensemble_weights=tuple(weights),
        refit_of=tuple(r.number for r in refits if r.succeeded),
        test_metrics=test_metrics,
        model_uri=model_uri,
        version=version,
        champion=decision.move,
        champion_reason=decision.reason,
        elapsed_s=elapsed,
    )


def _summary_record(result, members, refit, test_metrics, model_uri, decision, objective, elapsed):
    """summary.json: the search's outcome in one file (results folder and parent run)."""
    best = members[0]
    ensemble_of = [m.number for m in members]
    return {
        "best_trial": best.number,
        "ensemble_of": ensemble_of,
        "refit": refit,
        "best_config": best.values,
        f"best_{objective}": best.objective,
        "test_metrics": test_metrics,
        "model_uri": model_uri,
        "champion": decision.move,
        "champion_reason": decision.reason,
        "trials": {
            o.number: {"status": o.status, objective: o.objective, "reason": o.reason}
            for o in result.trials
        },
        "stopped_reason": result.stopped_reason,
        "elapsed_s": round(elapsed, 1),
        # Checkpoints, Tune's state and the oracle's, in the results folder.
        "disk_used_bytes": disk_used(result.results_dir),
    }


def disk_used(folder) -> int:
    """Bytes the files under `folder` take (0 when it is gone); links are not followed."""
    total = 0
    for path in Path(folder).rglob("*"):
        with contextlib.suppress(OSError):  # a file Ray removes while we count
            if path.is_file() and not path.is_symlink():
                total += path.stat().st_size
    return total


def human_bytes(count: int) -> str:
    """1536 -> '1.5 KB': the unit that keeps the number under 1000."""
    if count < 1000:
        return f"{count} B"
    exponent = min(3, int(math.log10(count) // 3))  # 1 KB .. GB, the last for anything larger
    return f"{count / 1000**exponent:.1f} {('KB', 'MB', 'GB')[exponent - 1]}"


def _register(
    tracker, name: str, run_id: str, model_file: str, metadata: dict, task, objective, best,
    phases,
):  # fmt: skip
    """Logs the packaged model to the parent run and registers it; (version, champion decision)."""
    with tempfile.TemporaryDirectory(prefix="gru-search-model-") as folder:
        model_dir = str(Path(folder) / "model")
        with phases("packaging"):
            packaging.package(model_file, metadata, model_dir, input_shape=task.input_shape)
        with phases("registering"):
            source = tracker.log_model(run_id, model_dir)
    candidate = registry.Standing(
        "?", objective.metric, objective.mode, best.objective, task.fingerprint
    )
    tags = {registry.SEARCH_RUN_TAG: run_id, "trial_number": best.number}
    with phases("registering"):
        version, decision = registry.register_and_promote(
            tracker, name, source, run_id, candidate, tags
        )
        tracker.describe_version(name, version, packaging.describe(metadata))
    return version, decision


class _Phases:
    """Seconds spent per named phase; a phase entered twice adds up."""

    def __init__(self, clock=time.perf_counter):
        self.seconds: dict[str, float] = {}
        self._clock = clock

    @contextlib.contextmanager
    def __call__(self, phase: str):
        started = self._clock()
        try:
            yield
        finally:
            spent = self._clock() - started
            self.seconds[phase] = self.seconds.get(phase, 0.0) + spent

    def rounded(self) -> dict[str, float]:
        return {phase: round(s, 1) for phase, s in self.seconds.items()}

    def __str__(self) -> str:
        total = sum(self.seconds.values())
        parts = ", ".join(f"{phase} {s:.1f} s" for phase, s in self.seconds.items())
        return f"{total:.1f} s ({parts})"


def _normalised(weights) -> list[float]:
    total = float(sum(weights))
    return [round(w / total, 4) for w in weights]


def _registered_model(members, refits, results_dir: str, weights: list[float]):
    """(model, its .keras file): the refit models where there are refits, else the trials'
    checkpoints; more than one are averaged with `weights` (and saved as ensemble.keras)."""
    import keras

    import cells

    registry.register_cells()
    files = [r.model_file for r in refits] if refits else [m.checkpoint for m in members]
    # Only averaged and predicted with: compiled, each would build an optimizer, and warn where
    # its checkpoint is the linear start (epoch 0), saved before any optimizer step.
    loaded = [keras.saving.load_model(f, safe_mode=True, compile=False) for f in files]
    model = cells.average_models(loaded, weights=weights)
    if len(members) == 1:
        return model, files[0]
    path = str(Path(results_dir) / "ensemble.keras")
    model.save(path)
    return model, path


def _metadata(spec, task, run_id: str, best, ensemble_of, refit, test_metrics) -> dict:
    """What the registered model says about itself (MLmodel metadata, metadata.json, the
    version's description): where it comes from, what it takes and what it answers."""
    import keras

    objective, mode = spec.search.objective.metric, spec.search.objective.mode
    return {
        "search": spec.name,
        "search_run_id": run_id,
        "trial_number": best.number,
        "ensemble_of": ensemble_of,
        "config": best.values,
        "objective": {
            "metric": objective,
            "mode": mode,
            "value": best.objective,
            "best_epoch": best.best_epoch,
        },
        "refit": refit,
        "test_metrics": test_metrics,
        "data_fingerprint": task.fingerprint,
        "task": task.kind,
        "classes": list(task.classes) if task.classes is not None else None,
        "feature_names": list(task.feature_names),
        "input_shape": list(task.input_shape),
        **_layout(spec.data, task),
        "keras_backend": keras.backend.backend(),
    }


def _layout(data_spec, task) -> dict:
    """How the data is laid out, so `gru-search predict` reads new data as training read it:
    the output names, and the id and time columns of a table."""
    from search.data import sources

    head = task.head
    if task.kind == "forecasting":
        targets = list(task.feature_names[: head.num_outputs])
    elif task.kind == "regression":
        # A table names its label column; arrays (NPZ, built-in sets) have none.
        name = (
            "y"
            if sources.is_builtin(str(data_spec.source)) or str(data_spec.source).endswith(".npz")
            else data_spec.label_column
        )
        targets = (
            [name] if head.num_outputs == 1 else [f"{name}_{i}" for i in range(head.num_outputs)]
        )
    else:
        targets = None
    return {
        "targets": targets,
        "horizon": head.horizon if task.kind == "forecasting" else None,
        "id_column": data_spec.id_column,
        "time_column": data_spec.time_column,
    }


def _refit_record(refits, task) -> dict | None:
    """What metadata.json and summary.json say about the refit: None when there was none."""
    if not refits:
        return None
    return {
        "training_cases": len(task.x_train) + len(task.x_val),
        "epochs": {r.number: r.epochs for r in refits if r.succeeded},
        "failed": {r.number: r.reason for r in refits if not r.succeeded},
    }


def _log_reports(
    tracker, run_id: str, test_prediction, task, trials, objective: str, mode: str
) -> None:
    """Parameter importance and the trials' parallel coordinates; for classification, per-class
    test metrics and the confusion matrix (search.reports) of the registered model's
    `test_prediction`."""
    import matplotlib

    matplotlib.use("Agg")  # no display on servers and Ray workers
    import matplotlib.pyplot as plt

    from search import reports

    importance = reports.parameter_importance(trials)
    if importance:
        tracker.log_dict(run_id, importance, "parameter_importance.json")
        tracker.log_figure(
            run_id, reports.importance_figure(importance, objective), "parameter_importance.png"
        )
    figure = reports.parallel_coordinates_figure(trials, objective, mode)
    if figure is not None:
        tracker.log_figure(run_id, figure, "trials_parallel_coordinates.png")
    if task.kind == "classification":
        metrics, figure = reports.class_report(task.y_test, test_prediction, task.classes)
        tracker.log_metrics(run_id, metrics)
        tracker.log_figure(run_id, figure, "confusion_matrix.png")
    plt.close("all")


def _log_plots(tracker, run_id: str, best, trials, objective: str, mode: str) -> None:
    import matplotlib

    matplotlib.use("Agg")  # no display on servers and Ray workers
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(1, 2, figsize=(10, 4))
    for name in ("loss", "val_loss"):
        if name in best.curves:
            axes[0].plot(range(1, len(best.curves[name]) + 1), best.curves[name], label=name)
    axes[0].set(title=f"trial {best.number}: loss", xlabel="epoch")
    axes[0].legend()
    for name in sorted({objective, objective.removeprefix("val_")}):
        if name in best.curves and name not in ("loss", "val_loss"):
            axes[1].plot(range(1, len(best.curves[name]) + 1), best.curves[name], label=name)
    axes[1].set(title=f"trial {best.number}: {objective}", xlabel="epoch")
    if axes[1].get_legend_handles_labels()[0]:  # empty when the objective is the loss itself
        axes[1].legend()
    figure.tight_layout()
    tracker.log_figure(run_id, figure, "learning_curve.png")
    plt.close(figure)

    scored = [(i, o) for i, o in enumerate(trials) if o.objective is not None]
    figure, ax = plt.subplots(figsize=(6, 4))
    if scored:
        ax.scatter([i for i, _ in scored], [o.objective for _, o in scored], label="trial")
        running, best_so_far = [], None
        for _, o in scored:
            better = best_so_far is None or (
                o.objective > best_so_far if mode == "max" else o.objective < best_so_far
            )
            best_so_far = o.objective if better else best_so_far
            running.append(best_so_far)
        ax.step([i for i, _ in scored], running, where="post", color="green", label="best so far")
    failed = [i for i, o in enumerate(trials) if o.status == "FAILED"]
    ax.scatter(failed, [ax.get_ylim()[0]] * len(failed), marker="x", color="red", label="failed")
    ax.set(title=f"{objective} over trials", xlabel="trial", ylabel=objective)
    ax.legend()
    figure.tight_layout()
    tracker.log_figure(run_id, figure, "objective_over_trials.png")
    plt.close(figure)


def _trials_table(result, spec):
    """The top trials by the objective (then val_loss), with their parameters."""
    from rich.table import Table

    objective, mode = spec.search.objective.metric, spec.search.objective.mode
    scored = [o for o in result.trials if o.objective is not None]
    scored.sort(
        key=lambda o: (
            -o.objective if mode == "max" else o.objective,
            o.tiebreak if o.tiebreak is not None else float("inf"),
        )
    )
    failed = sum(o.status == "FAILED" for o in result.trials)
    stopped = sum(o.status == "STOPPED" for o in result.trials)
    counts = f"{len(result.trials)} run, {failed} failed" + (
        f", {stopped} ended by the time budget before an epoch" if stopped else ""
    )
    table = Table(title=f"top trials of {spec.name} ({counts})", header_style="bold")
    params = sorted({k for o in scored[:TOP_TRIALS] for k in o.values})
    for column in ("trial", objective, "val_loss", "epochs", *params):
        table.add_column(column)
    for o in scored[:TOP_TRIALS]:
        table.add_row(
            o.number,
            f"{o.objective:.4f}",
            format_value(o.tiebreak),
            str(o.epochs),
            *(format_value(o.values.get(p)) for p in params),
        )
    return table


def print_summary(console, result, spec) -> None:
    objective = spec.search.objective.metric
    console.print(_trials_table(result, spec))
    for o in result.trials:
        if o.status == "FAILED":
            console.print(f"[red]trial {o.number} failed:[/red] {o.reason}")
    if result.stopped_reason and "explored" not in result.stopped_reason:
        console.print(f"[yellow]search stopped early:[/yellow] {result.stopped_reason}")
    best = result.best
    epoch = (
        "epoch 0 (its least-squares AR start)"
        if best.best_epoch == 0
        else f"epoch {best.best_epoch}"
    )
    console.print(
        f"[bold]best trial {best.number}[/bold]: {objective} {best.objective:.4f} at {epoch}; config {best.values}"
    )
    if len(result.ensemble_of) > 1:
        shares = zip(result.ensemble_of, result.ensemble_weights, strict=True)
        console.print(
            "registered model: the weighted average of trials "
            + ", ".join(f"{number} ({weight:.0%})" for number, weight in shares)
        )
    if result.refit_of:
        console.print(
            f"refit on training + validation data: trial{'s' if len(result.refit_of) > 1 else ''} {', '.join(result.refit_of)}"
        )
    console.print(
        "test metrics: " + ", ".join(f"{k} {v:.4f}" for k, v in result.test_metrics.items())
    )
    console.print(
        f"registered: [bold]{result.model_uri}[/bold] (search run {result.parent_run_id})"
    )
    verdict = "now champion" if result.champion else "champion unchanged"
    console.print(f"{verdict}: {result.champion_reason}")
    name = spec.tracking.registered_model
    ref = f"{name}@champion" if result.champion else f"{name}/{result.version}"
    uri = _uri_option(result.tracking_uri, spec)
    console.print(f"pull it with: [bold]gru-search pull {ref} -o models/{spec.name}{uri}[/bold]")
    console.print(f"log: {Path(result.results_dir) / 'search.log'}; browse: gru-search ui{uri}")
    used = human_bytes(disk_used(result.results_dir))
    console.print(f"disk: {used} in {result.results_dir} (one checkpoint per trial)")


def _uri_option(uri: str, spec=None) -> str:
    """The option that finds the store `uri` again: none when the CLI's default finds it, else
    ` --spec SPEC` when the spec does (search.store's rule), else ` --tracking-uri URI`."""
    import os

    from search.store import read_uri

    if uri == read_uri():
        return ""
    if spec is not None and spec.path and read_uri(spec) == uri:
        return f" --spec {os.path.relpath(spec.path)}"
    if uri.startswith("sqlite:///"):
        uri = "sqlite:///" + os.path.relpath(uri[len("sqlite:///") :])
    return f" --tracking-uri {uri}"
