"""50 trials in one process (one Ray worker with reused actors): resident memory levels off."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = [pytest.mark.reliability, pytest.mark.slow]

TRIALS = 50
# Measured here (Keras 3.15, TF 2.20, 2 epochs of small GRUs per trial): each trial used to keep
# ~12 MB and ~17k objects (its traced train graph), because Keras' optimizer all-reduces the
# gradients through a tf.custom_gradient whose registration in TensorFlow's process-wide gradient
# registry is never removed (1082 -> 1377 -> 1683 MB after trials 1, 25, 50). search.trial drops
# those registrations between trials; now +1.2 MB and a few hundred objects over the last 25
# trials. The bounds leave room for allocator noise and catch a per-trial leak of a tenth of that.
MAX_GROWTH_LAST_HALF_MB = 30.0
MAX_OBJECT_GROWTH_LAST_HALF = 5_000


def test_fifty_trials_do_not_grow_memory_without_bound():
    root = Path(__file__).resolve().parents[2]
    done = subprocess.run(
        [sys.executable, "-m", "tests.reliability.memory_probe", str(TRIALS)],
        cwd=root,
        capture_output=True,
        text=True,
        timeout=900,
        env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"},
    )
    assert done.returncode == 0, done.stderr[-3000:]
    rows = [json.loads(line) for line in done.stdout.splitlines() if line.startswith("{")]
    assert len(rows) == TRIALS
    rss, objects = [row["rss_mb"] for row in rows], [row["objects"] for row in rows]
    half = TRIALS // 2
    first, middle, last = rss[0], rss[half - 1], rss[-1]
    growth = last - middle
    per_trial_kb = 1024 * growth / (TRIALS - half)
    print(
        f"\nRSS after trial 1: {first:.0f} MB, trial {half}: {middle:.0f} MB, trial {TRIALS}: {last:.0f} MB; "
        f"growth over the last {TRIALS - half} trials {growth:+.1f} MB ({per_trial_kb:+.0f} kB/trial), "
        f"{objects[-1] - objects[half - 1]:+d} live objects"
    )
    assert growth < MAX_GROWTH_LAST_HALF_MB
    assert objects[-1] - objects[half - 1] < MAX_OBJECT_GROWTH_LAST_HALF
