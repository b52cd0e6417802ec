"""A one-million-row CSV loads in seconds: vectorised from file to padded array (timing printed)."""

from __future__ import annotations

import time

import numpy as np
import pyarrow as pa
import pyarrow.csv
import pytest

from search.data import prepare
from tests.search.data import make_spec

pytestmark = pytest.mark.slow


def test_a_million_row_csv(tmp_path):
    num_cases, steps, num_features = 10_000, 100, 4
    rng = np.random.default_rng(0)
    ids = np.repeat(np.arange(num_cases), steps)
    columns = {
        "sequence_id": ids,
        "time": np.tile(np.arange(steps), num_cases),
        **{f"f{i}": rng.normal(size=num_cases * steps) for i in range(num_features)},
        "label": (ids % 5).astype(str),
    }
    path = tmp_path / "big.csv"
    pa.csv.write_csv(pa.table(columns), path)

    start = time.perf_counter()
    task = prepare(make_spec(str(path)), seed=0)
    seconds = time.perf_counter() - start
    print(
        f"\nprepare() on a {num_cases * steps:,}-row CSV ({path.stat().st_size / 1e6:.0f} MB): {seconds:.2f} s"
    )

    total = len(task.x_train) + len(task.x_val) + len(task.x_test)
    assert total == num_cases and task.x_train.shape[1:] == (steps, num_features)
    # Spot-check one case against the columns it came from.
    case = int(np.flatnonzero(ids == 1234)[0])
    x = np.concatenate([task.x_train, task.x_val, task.x_test])
    match = np.flatnonzero(x[:, 0, 0] == np.float32(columns["f0"][case]))
    np.testing.assert_array_equal(
        x[match[0], :, 1], columns["f1"][case : case + steps].astype(np.float32)
    )
