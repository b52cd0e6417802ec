"""The raw-input model test: a saved model takes the Task's raw arrays and reproduces evaluate().

The model standardises and masks inside itself (docs/CONTRACTS.md), so the Task keeps raw units.
Here a model is built for a prepared Task of each kind, trained briefly, saved as .keras, loaded
in a fresh Python process, and fed the raw test inputs (NaN padding included); the metrics of
what it returns must equal those `evaluate` recorded in the training process.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from search.data import prepare
from search.data.metrics import classification_metrics, evaluate, regression_metrics
from tests.search.data import make_spec

pytestmark = pytest.mark.slow

SOURCES = {
    # Variable length (7-29 steps, NaN pre-padding), 12 channels, string labels '1'..'9'.
    "classification": make_spec("aeon:JapaneseVowels"),
    "regression": make_spec("adding:T=20,n=300", "regression"),
    "forecasting": make_spec("airline", "forecasting"),
}

FRESH_PROCESS = textwrap.dedent(
    """
    import json, sys
    import numpy as np
    import cells

    out = {}
    for kind, folder in json.loads(sys.argv[1]).items():
        model = cells.load_model(f"{folder}/model.keras")
        x = np.load(f"{folder}/x_test.npy")
        np.save(f"{folder}/prediction.npy", model.predict(x, verbose=0))
    """
)


def test_a_loaded_model_takes_raw_inputs_and_reproduces_the_metrics(tmp_path):
    import keras

    import cells

    recorded, folders, tasks = {}, {}, {}
    for kind, spec in SOURCES.items():
        task = prepare(spec, seed=0)
        keras.utils.set_random_seed(0)
        model = cells.build_model(
            cells.Architecture(variant="minimal", units=16),
            task.input_shape,
            task.head,
            feature_mean=task.feature_mean,
            feature_std=task.feature_std,
        )
        cells.compile_model(model, task.head, learning_rate=1e-2)
        model.fit(task.x_train, task.y_train, validation_data=(task.x_val, task.y_val),
                  epochs=2, batch_size=32, verbose=0)  # fmt: skip
        recorded[kind] = evaluate(model, task)
        folder = tmp_path / kind
        folder.mkdir()
        model.save(folder / "model.keras")
        np.save(folder / "x_test.npy", task.x_test)
        folders[kind], tasks[kind] = str(folder), task

    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[3])}
    subprocess.run(
        [sys.executable, "-c", FRESH_PROCESS, json.dumps(folders)],
        check=True,
        env=env,
        cwd=tmp_path,
    )
    for kind, task in tasks.items():
        prediction = np.load(Path(folders[kind]) / "prediction.npy")
        if kind == "classification":
            assert prediction.shape == (370, 9)
            replayed = classification_metrics(task.y_test, prediction)
            # Training did something: better than the 1/9 of guessing.
            assert replayed["accuracy"] > 0.3
        else:
            expected_shape = (len(task.y_test), *task.y_test.shape[1:])
            assert prediction.shape == expected_shape
            replayed = regression_metrics(task.y_test, prediction)
        assert replayed == pytest.approx(recorded[kind], rel=1e-5, abs=1e-6), kind
    # Outputs are in original units: airline forecasts are hundreds of passengers, not z-scores.
    airline = np.load(Path(folders["forecasting"]) / "prediction.npy")
    assert 100 < airline.mean() < 800
