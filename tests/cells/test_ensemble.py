"""`average_models`: the mean of several trained models as one model that saves and reloads."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import keras
import numpy as np
import pytest

import cells
from cells import Architecture, Head
from tests.cells.test_saving import LOADER, REPO


def _checkpoints(tmp_path, variants):
    """Models saved and loaded back, as the search's trial checkpoints are (all with one name)."""
    keras.utils.set_random_seed(0)
    head = Head("classification", 3)
    models = []
    for index, variant in enumerate(variants):
        model = cells.build_model(Architecture(variant=variant, units=4), (None, 2), head)
        model.save(tmp_path / f"trial{index}.keras")
        models.append(cells.load_model(tmp_path / f"trial{index}.keras"))
    return models


@pytest.mark.parametrize("weights", [None, [3, 1, 2]], ids=["equal", "weighted"])
def test_the_ensemble_predicts_the_mean_of_its_members_and_reloads_in_a_fresh_process(
    tmp_path, weights
):
    members = _checkpoints(tmp_path, ["gru", "mgu", "minimal"])
    x = np.random.default_rng(1).normal(size=(6, 5, 2)).astype("float32")
    x[:2, :2] = np.nan  # padding passes through every member's NaN mask
    outputs = [m.predict(x, verbose=0) for m in members]
    expected = np.average(outputs, axis=0, weights=weights)

    ensemble = cells.average_models(members, weights=weights)
    predicted = ensemble.predict(x, verbose=0)
    np.testing.assert_allclose(predicted, expected, atol=1e-6)
    np.testing.assert_allclose(predicted.sum(axis=1), 1.0, atol=1e-5)  # still probabilities

    np.save(tmp_path / "x.npy", x)
    np.save(tmp_path / "ensemble.npy", predicted)
    ensemble.save(tmp_path / "ensemble.keras")
    (tmp_path / "names.json").write_text(json.dumps(["ensemble"]))
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2", "PYTHONPATH": str(REPO)}
    done = subprocess.run(
        [sys.executable, "-c", LOADER, str(tmp_path)],
        capture_output=True, text=True, env=env, cwd=tmp_path, timeout=300,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    line = next(line for line in done.stdout.splitlines() if line.startswith("RESULT "))
    assert json.loads(line.removeprefix("RESULT "))["ensemble"] < 1e-5


def test_one_member_is_returned_unchanged_and_mismatched_outputs_are_refused(tmp_path):
    (only,) = _checkpoints(tmp_path, ["gru"])
    assert cells.average_models([only]) is only
    other = cells.build_model(Architecture(units=4), (None, 2), Head("classification", 5))
    with pytest.raises(ValueError, match="one positive weight per model"):
        cells.average_models([only, only], weights=[1.0, 0.0])
    with pytest.raises(ValueError, match="must share one output shape"):
        cells.average_models([only, other])
    with pytest.raises(ValueError, match="at least one model"):
        cells.average_models([])
