"""The adding problem (Hochreiter and Schmidhuber 1997; shared/datasets.md) at T=50: a built
model must get far below the 1/6 MSE of always predicting 1, for `gru` and a custom cell."""

from __future__ import annotations

import keras
import numpy as np
import pytest

import cells
from cells import Architecture, Head

STEPS = 50
BASELINE_MSE = 1.0 / 6.0


def adding_problem(n: int, steps: int, rng: np.random.Generator):
    """x[..., 0] ~ U[0, 1]; x[..., 1] marks one step in each half; y = sum of the marked values."""
    x = np.zeros((n, steps, 2), dtype="float32")
    x[:, :, 0] = rng.uniform(size=(n, steps))
    first = rng.integers(0, steps // 2, n)
    second = rng.integers(steps // 2, steps, n)
    rows = np.arange(n)
    x[rows, first, 1] = 1.0
    x[rows, second, 1] = 1.0
    y = x[rows, first, 0] + x[rows, second, 0]
    return x, y[:, None].astype("float32")


def test_adding_problem_baseline_is_one_sixth():
    _, y = adding_problem(20000, STEPS, np.random.default_rng(0))
    assert abs(float(np.mean((y - 1.0) ** 2)) - BASELINE_MSE) < 0.01


@pytest.mark.slow
@pytest.mark.parametrize("variant", ["gru", "mgu"])
def test_adding_problem_is_learned(variant):
    rng = np.random.default_rng(0)
    x_train, y_train = adding_problem(6400, STEPS, rng)
    x_val, y_val = adding_problem(500, STEPS, rng)
    keras.utils.set_random_seed(0)
    head = Head("regression", 1)
    model = cells.build_model(Architecture(variant=variant, units=32), (STEPS, 2), head)
    cells.compile_model(model, head, learning_rate=1e-2)
    # 100 updates per epoch; at this learning rate both leave the plateau within ~300 updates.
    mse = BASELINE_MSE
    for _ in range(6):
        model.fit(x_train, y_train, batch_size=64, epochs=1, verbose=0)
        mse = model.evaluate(x_val, y_val, verbose=0)[0]
        if mse < 0.01:
            break
    assert mse < 0.01, f"{variant} reached validation MSE {mse:.4f} (baseline {BASELINE_MSE:.4f})"
