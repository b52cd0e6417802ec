"""A model of every variant and option saved to `.keras` reloads in a fresh process that
imports only `cells`, and predicts the same."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import keras
import numpy as np
import pytest

import cells
from cells import Architecture, Head
from tests.cells.seeded import randomize_layer

REPO = Path(__file__).resolve().parents[2]

# Every variant, plus both attention kinds (run under both backends in CI).
MODELS = {
    **{variant: Architecture(variant=variant, units=4) for variant in cells.VARIANTS},
    "mgu_pooling": Architecture(variant="mgu", units=4, attention="pooling", attention_units=4),
    "gru_bahdanau": Architecture(variant="gru", units=4, attention="bahdanau", attention_units=4),
}
# Stacks, residuals, bidirectional wrappers, front-end, Luong: slower, so marked slow.
MORE_MODELS = {
    "gru_reset_before_stack": Architecture(variant="gru", units=4, depth=2, reset_after=False),
    "layernorm_bidirectional_residual": Architecture(
        variant="layernorm", units=4, depth=2, bidirectional=True, residual=True, frontend_kernel=2
    ),
    "sepconvgru_bidirectional": Architecture(variant="sepconvgru", units=2, bidirectional=True),
    "minimal_luong_bidirectional": Architecture(
        variant="minimal", units=4, attention="luong", bidirectional=True
    ),
    "minimal_luong": Architecture(variant="minimal", units=4, attention="luong"),
}

# The options around the recurrent stack, on a forecasting head (revin and ar_highway need one).
FORECAST = Head("forecasting", 2, horizon=2, target_mean=(0.5, 0.0), target_std=(1.0, 2.0))
OPTION_MODELS = {
    "gru_fcn": (Architecture(units=4, fcn="fcn", fcn_filters=4), FORECAST),
    "mgu_se_fcn_downsample": (
        Architecture(variant="mgu", units=4, fcn="se_fcn", fcn_filters=4, downsample=4),
        FORECAST,
    ),
    "convgru_revin_ar_highway_downsample": (
        Architecture(variant="convgru", units=4, downsample=2, revin=True, ar_highway=3),
        FORECAST,
    ),
    # The shuffled stack needs a fixed length (built on 9 steps, below).
    "layernorm_fcn_dimension_shuffle_revin": Architecture(
        variant="layernorm", units=4, fcn="fcn", fcn_filters=4, dimension_shuffle=True, revin=True
    ),
    # MiniRocket's features and readout, on both heads it applies to (a regression head here).
    "gru_fcn_minirocket": Architecture(units=4, fcn="fcn", fcn_filters=4, minirocket=True),
    "mgu_minirocket_classification": (
        Architecture(variant="mgu", units=4, minirocket=True),
        Head("classification", 3),
    ),
}

LOADER = textwrap.dedent(
    """
    import json, sys
    import numpy as np
    import cells

    folder = sys.argv[1]
    x = np.load(f"{folder}/x.npy")
    names = json.loads(open(f"{folder}/names.json").read())
    differences = {}
    for name in names:
        model = cells.load_model(f"{folder}/{name}.keras")
        expected = np.load(f"{folder}/{name}.npy")
        differences[name] = float(np.abs(model.predict(x, verbose=0) - expected).max())
    print("RESULT " + json.dumps(differences))
    """
)


def test_every_variant_and_option_reloads_in_a_fresh_process(tmp_path):
    _save_and_reload({**MODELS, **OPTION_MODELS}, tmp_path)


@pytest.mark.slow
def test_stacked_bidirectional_and_luong_models_reload_in_a_fresh_process(tmp_path):
    _save_and_reload(MORE_MODELS, tmp_path)


def _save_and_reload(
    models: dict[str, Architecture | tuple[Architecture, Head]], tmp_path: Path
) -> None:
    """Save each model (an Architecture on a regression head, or an (Architecture, Head)),
    then load them all in one fresh process and compare the predictions."""
    keras.utils.set_random_seed(0)
    x = np.random.default_rng(0).normal(size=(5, 9, 3)).astype("float32")
    x[:2, :3] = np.nan  # padded steps go through the saved NaN-mask layer too
    np.save(tmp_path / "x.npy", x)
    regression = Head("regression", 2, target_mean=(1.0, -1.0), target_std=(2.0, 0.5))
    for name, model_spec in models.items():
        arch, head = model_spec if isinstance(model_spec, tuple) else (model_spec, regression)
        steps = x.shape[1] if arch.dimension_shuffle else None
        model = cells.build_model(
            arch,
            (steps, 3),
            head,
            feature_mean=[0.5, 0.0, -0.5],
            feature_std=[1.0, 2.0, 3.0],
            series_length=x.shape[1],
        )
        # Batch norm statistics and affine weights away from their initial values too.
        randomize_layer(model, seed=len(name))
        np.save(tmp_path / f"{name}.npy", model.predict(x, verbose=0))
        model.save(tmp_path / f"{name}.keras")
    (tmp_path / "names.json").write_text(json.dumps(list(models)))

    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2", "PYTHONPATH": str(REPO)}
    done = subprocess.run(
        [sys.executable, "-c", LOADER, str(tmp_path)],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    line = next(line for line in done.stdout.splitlines() if line.startswith("RESULT "))
    differences = json.loads(line.removeprefix("RESULT "))
    assert set(differences) == set(models)
    assert all(diff < 1e-5 for diff in differences.values()), differences
