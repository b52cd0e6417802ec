"""Disk and time of a 30-trial search keeping each trial's best checkpoint, against keeping all.

Ray Tune checkpoints a trial each time its objective improves (search.trial). Keeping every one
(num_to_keep None, the earlier behaviour) fills the disk on a long search; keeping one
(search.tune.CHECKPOINTS_KEPT = 1, the default) costs Tune a save of its experiment state after
each checkpoint. This runs the same small search (aeon's UnitTest, tiny GRUs, fifo, one holdout,
no time budget) once per policy, in this process with local Ray, and prints one table:

    python benchmarks/checkpoint_disk.py [--trials 30] [--epochs 20]

Columns: checkpoints left on disk, the results folder's size (the summary's disk_used_bytes),
the search's wall time, and each as a ratio of the keep-all run, measured in this run.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

# benchmarks/cells.py (another benchmark) would shadow the `cells` package for a script run from here.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).parent.resolve()]
os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")


def _search(folder: Path, trials: int, epochs: int, kept: int | None):
    import search
    from search import tune
    from search.spec import parse_spec
    from search.summary import disk_used

    tune.CHECKPOINTS_KEPT = kept
    spec = parse_spec(
        {
            "name": "checkpoint-disk",
            "data": {"source": "aeon:UnitTest", "task": "classification"},
            "space": {
                "cell": ["gru", "mgu"],
                "units": [4, 8, 16],
                "learning_rate": {"min": 1e-3, "max": 1e-2, "log": True},
            },
            "search": {
                "algorithm": "random",
                "scheduler": "fifo",
                "max_trials": trials,
                "max_epochs": epochs,
                "patience": None,
                "folds": 1,
                "refit": False,
                "ensemble": 1,
                "time_budget_minutes": None,
                "first_trials": [],
            },
        },  # fmt: skip
        folder,
    )
    started = time.perf_counter()
    result = search.run(spec, quiet=True)
    seconds = time.perf_counter() - started
    checkpoints = sum(1 for _ in Path(result.results_dir).rglob("checkpoint_*") if _.is_dir())
    return checkpoints, disk_used(result.results_dir), seconds, len(result.trials)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=30)
    parser.add_argument("--epochs", type=int, default=20)
    args = parser.parse_args()
    rows = {}
    for label, kept in (("all (num_to_keep None)", None), ("best (num_to_keep 1)", 1)):
        with tempfile.TemporaryDirectory(prefix="gru-search-disk-") as folder:
            rows[label] = _search(Path(folder), args.trials, args.epochs, kept)
    base = rows["all (num_to_keep None)"]
    print("| checkpoints kept | trials | checkpoints on disk | results folder | wall time | "
          "disk ratio | time ratio |")  # fmt: skip
    print("|---|---|---|---|---|---|---|")
    for label, (count, size, seconds, trials) in rows.items():
        print(f"| {label} | {trials} | {count} | {size / 1e6:.1f} MB | {seconds:.0f} s | "
              f"{size / base[1]:.2f} | {seconds / base[2]:.2f} |")  # fmt: skip


if __name__ == "__main__":
    main()
