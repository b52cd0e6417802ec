"""What running trials through `gru-search run` costs over training them bare, and what concurrency buys.

(a) the same N small trainings run bare, one after the other, in a fresh process whose TensorFlow
    uses one thread per pool, as a trial with `cpu: 1` does (so only orchestration differs);
(b) the same configurations as trials of a search (local Ray, MLflow on SQLite, checkpoints).
Per-trial overhead = (b)'s trial duration (its MLflow run, so Ray's and TensorFlow's one-time start
is excluded) minus (a)'s duration for the same configuration; the span-based figure also charges
the gaps between trials (the driver's scheduling) to the search.
Then trials per minute with concurrency 1 and 2 (first trial start to last trial end), the CPU
seconds each trial's worker process used, and the share of a core it got (CPU / wall): on a machine
shared with other work the wall-clock ratio measures the neighbours too, while CPU per trial shows
whether trials slow each other down and CPU / wall how much of a core each trial was given.

    python benchmarks/search_overhead.py [--trials 16] [--epochs 3]

With 6 trials the second worker's later start (its TensorFlow import) alone cut the concurrency-2
span by a third; 16 trials amortise it.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

# benchmarks/cells.py (another benchmark) would shadow the `cells` package for a script run from here.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).parent.resolve()]

SPACE = {
    "cell": ["gru", "minimal", "mgu"],
    "units": [8, 16, 32],
    "learning_rate": {"min": 1e-3, "max": 1e-2, "log": True},
}


def _spec(folder, name, trials, epochs, concurrency):
    from search.spec import parse_spec

    return parse_spec(
        {
            "name": name,
            "data": {"source": "aeon:UnitTest", "task": "classification"},
            "space": SPACE,
            "search": {
                "algorithm": "random",
                "scheduler": "fifo",
                "max_trials": trials,
                "max_epochs": epochs,
                "concurrency": concurrency,
                "patience": None,
                "seed": 0,
                "max_failures": 0,
                "objective": {"metric": "val_accuracy", "mode": "max"},
                # The overhead of the machinery: one holdout, one model, no refit, no budget.
                "folds": 1,
                "ensemble": 1,
                "refit": False,
                "time_budget_minutes": None,
            },
            "ray": {"num_cpus": 2},
        },
        folder,
    )


def _measuring_trainer(record_file: str):
    """`train_trial`, plus the worker's CPU seconds and TensorFlow thread counts per trial."""

    def trainer(values, task, settings, report):
        import tensorflow as tf

        from search.trial import train_trial
        from search.trial_result import TRIAL_NUMBER_KEY

        cpu, wall = time.process_time(), time.perf_counter()
        try:
            return train_trial(values, task, settings, report)
        finally:
            record = {
                "number": str(values.get(TRIAL_NUMBER_KEY)),
                "cpu_s": time.process_time() - cpu,
                "wall_s": time.perf_counter() - wall,
                "intra_op": tf.config.threading.get_intra_op_parallelism_threads(),
                "inter_op": tf.config.threading.get_inter_op_parallelism_threads(),
            }
            with open(record_file, "a") as handle:
                handle.write(json.dumps(record) + "\n")

    return trainer


def _bare_main(folder: str, values_file: str, epochs: int) -> None:
    """Runs in a fresh process: one thread per TensorFlow pool, then each configuration bare."""
    import tensorflow as tf

    tf.config.threading.set_intra_op_parallelism_threads(1)
    tf.config.threading.set_inter_op_parallelism_threads(1)
    import keras

    from cells.builder import build_model, compile_model
    from search.data import prepare
    from search.spec import trial_config

    spec = _spec(folder, "bare", 1, epochs, 1)
    task = prepare(spec.data, spec.search.seed)
    trials = json.loads(Path(values_file).read_text())

    def fit(values, epochs):
        started = time.perf_counter()
        keras.utils.clear_session()
        config = trial_config(values)
        model = build_model(
            config.architecture,
            task.input_shape,
            task.head,
            feature_mean=task.feature_mean,
            feature_std=task.feature_std,
        )
        compile_model(model, task.head, config.training.learning_rate)
        model.fit(
            task.x_train,
            task.y_train,
            validation_data=(task.x_val, task.y_val),
            batch_size=config.training.batch_size,
            epochs=epochs,
            verbose=0,
        )
        return time.perf_counter() - started

    fit(
        trials[0][1], 1
    )  # warm-up: TensorFlow's one-time start, as the search's worker pays before its first trial
    print(json.dumps({number: fit(values, epochs) for number, values in trials}))


def _bare(folder: str, trials, epochs: int) -> dict:
    values_file = Path(folder) / "bare_values.json"
    values_file.write_text(json.dumps([(o.number, o.values) for o in trials]))
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"}
    done = subprocess.run(
        [sys.executable, __file__, "--bare", folder, str(values_file), "--epochs", str(epochs)],
        check=True,
        capture_output=True,
        text=True,
        env=env,
    )
    return json.loads(done.stdout.strip().splitlines()[-1])


def _trial_runs(spec, result):
    from mlflow import MlflowClient

    client = MlflowClient(spec.tracking.uri)
    runs = client.search_runs(
        [result.experiment_id], f"tags.`mlflow.parentRunId` = '{result.parent_run_id}'"
    )
    return {
        r.data.tags["trial_number"]: (
            (r.info.end_time - r.info.start_time) / 1000,
            r.info.start_time,
            r.info.end_time,
        )
        for r in runs
    }


def _load() -> str:
    return " ".join(f"{v:.1f}" for v in os.getloadavg())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=16)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--bare", nargs=2, metavar=("FOLDER", "VALUES"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.bare:
        _bare_main(*args.bare, args.epochs)
        return

    from search.cli import quiet_output

    quiet_output()  # as the CLI does: no C++ start-up lines or library notices between the tables

    import search

    folder = tempfile.mkdtemp(prefix="gru-search-bench-")
    print(f"load average at start: {_load()} ({os.cpu_count()} CPUs)")
    searched = {}
    for concurrency in (1, 2):
        spec = _spec(folder, f"bench-c{concurrency}", args.trials, args.epochs, concurrency)
        record_file = str(Path(folder) / f"cpu-c{concurrency}.jsonl")
        wall = time.perf_counter()
        result = search.run(
            spec, quiet=True, trainer=_measuring_trainer(record_file), console=_null_console()
        )
        runs = _trial_runs(spec, result)
        span = (max(r[2] for r in runs.values()) - min(r[1] for r in runs.values())) / 1000
        records = [json.loads(line) for line in Path(record_file).read_text().splitlines()]
        searched[concurrency] = (result, runs, span, time.perf_counter() - wall, records)

    result, runs, span1, _, records = searched[1]
    # Bare twice; the faster run of each configuration is the baseline (noise only ever adds time,
    # so this errs towards a larger overhead).
    first, second = (_bare(folder, result.trials, args.epochs) for _ in range(2))
    bare = {number: min(first[number], second[number]) for number in first}
    rows = [(o.number, bare[o.number], runs[o.number][0]) for o in result.trials]

    print(
        f"\n{args.trials} trials x {args.epochs} epochs on aeon:UnitTest, concurrency 1 "
        f"(TensorFlow threads in trials: intra {records[0]['intra_op']}, inter {records[0]['inter_op']}; bare: 1, 1)"
    )
    print(f"{'trial':>5} {'bare s':>8} {'in search s':>12} {'overhead s':>11}")
    for number, bare_s, inside in rows:
        print(f"{number:>5} {bare_s:8.2f} {inside:12.2f} {inside - bare_s:11.2f}")
    overheads = [inside - bare_s for _, bare_s, inside in rows]
    total_bare = sum(r[1] for r in rows)
    print(
        f"median per-trial overhead: {statistics.median(overheads):.2f} s (target < 1 s); "
        f"ratio in-search / bare: {sum(r[2] for r in rows) / total_bare:.2f}"
    )
    print(
        f"span-based overhead (first trial start to last trial end, minus bare, per trial): "
        f"{(span1 - total_bare) / len(rows):.2f} s"
    )

    print(
        f"\n{'concurrency':>11} {'trials':>6} {'trial span s':>13} {'trials/min':>11} {'CPU s/trial':>12} {'CPU/wall':>12} {'search wall s':>14}"
    )
    rates, cpu = {}, {}
    for concurrency, (_, runs, span, wall, records) in searched.items():
        rates[concurrency] = len(runs) / span * 60
        cpu[concurrency] = statistics.median(r["cpu_s"] for r in records)
        share = statistics.median(r["cpu_s"] / r["wall_s"] for r in records)
        print(
            f"{concurrency:>11} {len(runs):>6} {span:13.1f} {rates[concurrency]:11.2f} {cpu[concurrency]:12.2f} "
            f"{share:12.2f} {wall:14.1f}"
        )
    print(
        f"throughput ratio concurrency 2 / 1: {rates[2] / rates[1]:.2f}x (target >= 1.7x); "
        f"CPU per trial concurrency 2 / 1: {cpu[2] / cpu[1]:.2f}"
    )
    print(f"load average at end: {_load()}")


def _null_console():
    from rich.console import Console

    return Console(file=open(os.devnull, "w"))  # noqa: SIM115 - lives as long as the process


if __name__ == "__main__":
    main()
