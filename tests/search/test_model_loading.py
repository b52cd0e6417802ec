"""`search.load_model` in a fresh process loads every kind of model a search can register.

A fresh process has imported none of `cells`' layers; the builder imports the attention layers
only when it builds one, so loading must register them all first (a registered attention
model once failed to load in the driver with "Could not locate class 'AttentionPooling'").
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pytest

from cells.architecture import Architecture, Head
from cells.builder import build_model
from cells.ensemble import average_models

pytestmark = pytest.mark.slow

ATTENTIONS = ("pooling", "bahdanau", "luong")


def test_models_with_every_attention_and_their_average_load_in_a_fresh_process(tmp_path):
    x = np.random.default_rng(0).normal(size=(4, 7, 3)).astype("float32")
    x[0, :2] = np.nan  # a padded case
    models = [
        build_model(
            Architecture(units=4, attention=a, attention_units=4),
            (None, 3),
            Head("classification", 2),
        )
        for a in ATTENTIONS
    ]
    models.append(average_models(models))
    models.append(average_models(models[:3], weights=[3, 1, 2]))  # as greedy selection weighs
    expected = {}
    for index, model in enumerate(models):
        path = tmp_path / f"model{index}.keras"
        model.save(path)
        expected[str(path)] = model.predict(x, verbose=0).tolist()
    np.save(tmp_path / "x.npy", x)
    script = (
        "import json, sys\n"
        "import numpy as np\n"
        "import search\n"
        "x = np.load(sys.argv[1])\n"
        "print(json.dumps({p: search.load_model(p).predict(x, verbose=0).tolist() for p in sys.argv[2:]}))\n"
    )
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"}
    done = subprocess.run(
        [sys.executable, "-c", script, str(tmp_path / "x.npy"), *expected],
        env=env,
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    loaded = json.loads(done.stdout.strip().splitlines()[-1])
    for path, predictions in expected.items():
        np.testing.assert_allclose(loaded[path], predictions, rtol=1e-5, atol=1e-6)
