"""What k-fold cross-validation costs a trial: k folds against one holdout, on one real data set.

The same configuration is trained as a trial (search.trial.train_trial, no Ray, no MLflow) once
with one holdout and once with k folds. The folds take turns in one compiled model, so the first
epoch (tracing, and XLA compiling where a trial uses it) should cost about the same, and each later
epoch about k times the holdout's: with k = 5 each fold trains on 4/5 of training + validation,
as many cases as the holdout's training split.

    python benchmarks/fold_training.py [--data GunPoint] [--folds 5] [--epochs 10] [--attention none]

Prints the first-epoch and per-later-epoch seconds of both and their ratios, from one run.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

# benchmarks/cells.py (another benchmark) would shadow the `cells` package for a script run from here.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).parent.resolve()]


class _NoTracker:
    """Accepts what a trial logs and keeps none of it: only the training is timed."""

    def start_trial(self, *args):
        return "run"

    def __getattr__(self, name):
        return lambda *args, **kwargs: None


def _epoch_times(values: dict, task, folds: int, epochs: int) -> list[float]:
    from search.trial import TrialSettings, train_trial

    settings = TrialSettings(
        objective="val_accuracy",
        mode="max",
        max_epochs=epochs,
        patience=None,
        cpus=2,
        tracking_uri="unused",
        experiment_id="e",
        parent_run_id="p",
        seed=0,
        folds=folds,
    )
    ends = []
    started = time.perf_counter()
    train_trial(
        values,
        task,
        settings,
        lambda metrics, checkpoint: ends.append(time.perf_counter()),
        _NoTracker(),
    )
    return [ends[0] - started, *np.diff(ends)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default="GunPoint", help="an aeon classification set")
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--attention", default="none", help="none, pooling, bahdanau or luong")
    args = parser.parse_args()

    from search.data import prepare
    from search.spec import parse_spec

    spec = parse_spec(
        {"name": "folds", "data": {"source": f"aeon:{args.data}", "task": "classification"}},
        tempfile.mkdtemp(),
    )
    task = prepare(spec.data, spec.search.seed)
    values = {
        "cell": "gru",
        "units": 32,
        "bidirectional": True,
        "attention": args.attention,
        "fcn": "fcn",
        "fcn_filters": 64,
        "learning_rate": 3e-3,
        "batch_size": 16,
    }
    rows = {}
    for folds in (1, args.folds):
        times = _epoch_times(values, task, folds, args.epochs)
        rows[folds] = (times[0], statistics.median(times[1:]))
    one, many = rows[1], rows[args.folds]
    print(
        f"{args.data}: {len(task.x_train)} training + {len(task.x_val)} validation cases of "
        f"{task.x_train.shape[1]} steps; attention {args.attention}; {args.epochs} epochs"
    )
    print(f"{'':<22}{'first epoch s':>14}{'later epoch s':>15}")
    for folds, (first, later) in rows.items():
        print(f"{f'{folds} fold' + ('s' if folds > 1 else ''):<22}{first:>14.2f}{later:>15.3f}")
    print(f"{'ratio':<22}{many[0] / one[0]:>14.2f}{many[1] / one[1]:>15.2f}")


if __name__ == "__main__":
    main()
