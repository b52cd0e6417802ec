"""Runs N trials one after another in this process, as one Ray worker does with reused actors,
and prints the resident memory and live objects after each trial as JSON: `python -m tests.reliability.memory_probe N`."""

from __future__ import annotations

import json
import os
import sys

import numpy as np


def rss_mb() -> float:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS in /proc/self/status")


def live_objects() -> int:
    """Objects the collector tracks after a collection (the frozen long-lived heap is not counted)."""
    import gc

    gc.collect()
    return len(gc.get_objects())


class _NullTracker:
    def start_trial(self, *args):
        return "run"

    def log_params(self, *args):
        pass

    def set_tags(self, *args):
        pass

    def log_metrics(self, *args, **kwargs):
        pass

    def end_run(self, *args, **kwargs):
        pass


def main(trials: int) -> None:
    from cells.architecture import Head
    from search.data.task import Task
    from search.trial import train_trial
    from search.trial_result import TRIAL_NUMBER_KEY
    from tests.fakes import offline_settings

    rng = np.random.default_rng(0)
    x = rng.normal(size=(120, 12, 3)).astype("float32")
    y = (x[:, :, 0].sum(axis=1) > 0).astype("int64")
    task = Task(
        "classification",
        x[:80],
        y[:80],
        x[80:100],
        y[80:100],
        x[100:],
        y[100:],
        Head("classification", 2),
        np.zeros(3, "float32"),
        np.ones(3, "float32"),
        ("a", "b", "c"),
        ("0", "1"),
        "fp",
    )
    settings = offline_settings(objective="val_accuracy", mode="max", max_epochs=2)
    cells, units = ["gru", "minimal", "mgu"], [8, 16]
    for number in range(trials):
        values = {
            "cell": cells[number % 3],
            "units": units[number % 2],
            "learning_rate": 0.01,
            "batch_size": 16,
            TRIAL_NUMBER_KEY: str(number),
        }
        train_trial(values, task, settings, lambda metrics, checkpoint: None, _NullTracker())
        if os.environ.get("PROBE_TRIM"):
            import ctypes
            import gc

            gc.collect()
            ctypes.CDLL("libc.so.6").malloc_trim(0)
        print(
            json.dumps({"trial": number, "rss_mb": round(rss_mb(), 1), "objects": live_objects()}),
            flush=True,
        )


if __name__ == "__main__":
    main(int(sys.argv[1]))
