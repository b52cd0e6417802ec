"""A real forecasting search validated at rolling origins: local Ray, MLflow on SQLite, the refit."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def test_trials_at_rolling_origins_register_their_refit_on_every_window(tmp_path):
    import search
    from search.data import prepare
    from search.data.folds import cross_validation_folds
    from search.data.metrics import evaluate
    from search.spec import parse_spec

    spec = parse_spec(
        {
            "name": "origins",
            # 144 months, 24 in and 12 ahead, the last 12 for test.
            "data": {"source": "airline", "task": "forecasting"},
            "space": {"cell": "gru", "units": 8, "ar_highway": 12, "revin": [False, True]},
            "search": {
                "algorithm": "random",
                "scheduler": "fifo",
                "max_trials": 2,
                "max_epochs": 3,
                "concurrency": 2,
                "seed": 0,
                "folds": 3,
                "ensemble": 2,
                "refit": True,
                "first_trials": [],
            },
        },
        tmp_path,
    )
    result = search.run(spec, quiet=True)
    task = prepare(spec.data, spec.search.seed)
    log = (Path(result.results_dir) / "search.log").read_text()
    assert "each trial is validated at 3 rolling origins" in log
    # Each trial's objective is the mean over its three origins, each origin's model trained
    # only on the windows before it.
    folds = cross_validation_folds(task, 3, spec.search.seed)
    assert [len(f.x_train) for f in folds] == sorted({len(f.x_train) for f in folds})
    assert all(o.status == "COMPLETED" for o in result.trials)
    # The fold models have not seen the latest windows: the registered models are the refits
    # on every training + validation window, not the average of the fold models.
    assert sorted(result.refit_of) == sorted(result.ensemble_of) and len(result.ensemble_of) == 2
    summary = json.loads((Path(result.results_dir) / "summary.json").read_text())
    assert summary["refit"]["failed"] == {}
    assert summary["refit"]["training_cases"] == len(task.x_train) + len(task.x_val)
    import keras

    model = search.load_model(result.model_uri, tracking_uri=spec.tracking.uri)
    members = [layer for layer in model.layers if isinstance(layer, keras.Model)]
    assert [m.name for m in members] == ["member_0", "member_1"]  # the two refits, and in
    assert not any(
        isinstance(layer, keras.Model) for m in members for layer in m.layers
    )  # no folds
    assert evaluate(model, task)["mse"] == pytest.approx(result.test_metrics["mse"], rel=1e-5)
    assert np.isfinite(result.test_metrics["mse"])
