"""What running trials through `gru-search run` costs over training them bare, and what concurrency buys.

(a) the same N small trainings run bare in this process, one after the other;
(b) the same configurations as trials of a search (local Ray, MLflow on SQLite, checkpoints).
Per-trial overhead = (b)'s trial duration (its MLflow run, from worker start of the trial to end,
so Ray's and TensorFlow's one-time start is excluded) minus (a)'s duration for the same config.
Then trials per minute with concurrency 1 and 2 (first trial start to last trial end).

    python benchmarks/search_overhead.py [--trials 6] [--epochs 3]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

# benchmarks/cells.py (another benchmark) would shadow the `cells` package for a script run from here.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).parent.resolve()]

SPACE = {"cell": ["gru", "minimal", "mgu"], "units": [8, 16, 32], "learning_rate": {"min": 1e-3, "max": 1e-2, "log": True}}


def _spec(folder, name, trials, epochs, concurrency):
    from search.spec import parse_spec

    return parse_spec(
        {
            "name": name,
            "data": {"source": "aeon:UnitTest", "task": "classification"},
            "space": SPACE,
            "search": {
                "algorithm": "random", "scheduler": "fifo", "max_trials": trials, "max_epochs": epochs,
                "concurrency": concurrency, "patience": None, "seed": 0, "max_failures": 0,
                "objective": {"metric": "val_accuracy", "mode": "max"},
            },
        },
        folder,
    )


def _bare(task, values, epochs) -> float:
    import keras

    from cells.builder import build_model, compile_model
    from search.spec import trial_config

    started = time.perf_counter()
    keras.utils.clear_session(free_memory=True)
    config = trial_config(values)
    model = build_model(config.architecture, task.input_shape, task.head, feature_mean=task.feature_mean, feature_std=task.feature_std)
    compile_model(model, task.head, config.training.learning_rate)
    model.fit(task.x_train, task.y_train, validation_data=(task.x_val, task.y_val), batch_size=config.training.batch_size, epochs=epochs, verbose=0)
    return time.perf_counter() - started


def _trial_runs(spec, result):
    from mlflow import MlflowClient

    client = MlflowClient(spec.tracking.uri)
    runs = client.search_runs([result.experiment_id], f"tags.`mlflow.parentRunId` = '{result.parent_run_id}'")
    return {r.data.tags["trial_number"]: ((r.info.end_time - r.info.start_time) / 1000, r.info.start_time, r.info.end_time) for r in runs}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=6)
    parser.add_argument("--epochs", type=int, default=3)
    args = parser.parse_args()

    import search
    from search.data import prepare

    folder = tempfile.mkdtemp(prefix="gru-search-bench-")
    searched = {}
    for concurrency in (1, 2):
        spec = _spec(folder, f"bench-c{concurrency}", args.trials, args.epochs, concurrency)
        wall = time.perf_counter()
        result = search.run(spec, quiet=True)
        runs = _trial_runs(spec, result)
        span = (max(r[2] for r in runs.values()) - min(r[1] for r in runs.values())) / 1000
        searched[concurrency] = (spec, result, runs, span, time.perf_counter() - wall)

    spec, result, runs, _, _ = searched[1]
    task = prepare(spec.data, spec.search.seed)
    _bare(task, result.trials[0].values, 1)  # warm-up: TensorFlow's one-time start, as in (b)
    rows = []
    for trial in result.trials:
        bare = _bare(task, {k: v for k, v in trial.values.items()}, args.epochs)
        rows.append((trial.number, bare, runs[trial.number][0]))

    print(f"\n{args.trials} trials x {args.epochs} epochs on aeon:UnitTest, concurrency 1")
    print(f"{'trial':>5} {'bare s':>8} {'in search s':>12} {'overhead s':>11}")
    for number, bare, inside in rows:
        print(f"{number:>5} {bare:8.2f} {inside:12.2f} {inside - bare:11.2f}")
    overheads = [inside - bare for _, bare, inside in rows]
    print(f"median per-trial overhead: {statistics.median(overheads):.2f} s (target < 1 s); "
          f"ratio in-search / bare: {sum(r[2] for r in rows) / sum(r[1] for r in rows):.2f}")

    print(f"\n{'concurrency':>11} {'trials':>6} {'trial span s':>13} {'trials/min':>11} {'search wall s':>14}")
    rates = {}
    for concurrency, (_, _, runs, span, wall) in searched.items():
        rates[concurrency] = len(runs) / span * 60
        print(f"{concurrency:>11} {len(runs):>6} {span:13.1f} {rates[concurrency]:11.2f} {wall:14.1f}")
    print(f"throughput ratio concurrency 2 / 1: {rates[2] / rates[1]:.2f}x (target >= 1.7x)")


if __name__ == "__main__":
    main()
