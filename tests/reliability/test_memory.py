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
# Measured here (Keras 3.15, TF 2.20, 2 epochs of small GRUs per trial): about +12 MB per trial
# even with clear_session(free_memory=True) between trials; TensorFlow graph objects (~17k per
# trial: Operations, SymbolicTensors, traced functions) stay reachable. The bound (20 MB per
# trial over the last 25) catches anything worse, like the 3.7 GB over ~75 keras-tuner trials
# in design.md (~50 MB per trial); it does not prove the growth levels off, because it does not.
MAX_GROWTH_LAST_HALF_MB = 500.0


def test_fifty_trials_do_not_grow_memory_without_bound():
    root = Path(__file__).resolve().parents[2]
    done = subprocess.run([sys.executable, "-m", "tests.reliability.memory_probe", str(TRIALS)], cwd=root,
                          capture_output=True, text=True, timeout=900, env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"})
    assert done.returncode == 0, done.stderr[-3000:]
    rss = [json.loads(line)["rss_mb"] for line in done.stdout.splitlines() if line.startswith("{")]
    assert len(rss) == TRIALS
    half = TRIALS // 2
    first, middle, last = rss[0], rss[half - 1], rss[-1]
    growth = last - middle
    per_trial_kb = 1024 * growth / (TRIALS - half)
    print(f"\nRSS after trial 1: {first:.0f} MB, trial {half}: {middle:.0f} MB, trial {TRIALS}: {last:.0f} MB; "
          f"growth over the last {TRIALS - half} trials {growth:+.1f} MB ({per_trial_kb:+.0f} kB/trial)")
    assert growth < MAX_GROWTH_LAST_HALF_MB
