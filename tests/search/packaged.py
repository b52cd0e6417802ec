"""Small trained-looking models packaged as a search packages its best one (search.packaging)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

CLASSES = ["cat", "dog", "eel"]
FEATURES = ["a", "b", "c"]


def classifier_metadata() -> dict:
    return {
        "search": "pets",
        "task": "classification",
        "classes": CLASSES,
        "feature_names": FEATURES,
        "input_shape": [None, len(FEATURES)],
        "objective": {"metric": "val_accuracy", "mode": "max", "value": 0.75, "best_epoch": 3},
        "test_metrics": {"accuracy": 0.5},
        "data_fingerprint": "f" * 16,
        "targets": None,
        "horizon": None,
        "id_column": "sequence_id",
        "time_column": "time",
    }


def classifier(folder: Path):
    """(keras model, its .keras path): custom cells (MGU) and attention pooling, seeded weights."""
    import keras

    from cells.architecture import Architecture, Head
    from cells.builder import build_model

    keras.utils.set_random_seed(0)
    model = build_model(
        Architecture(variant="mgu", units=4, attention="pooling"),
        (None, len(FEATURES)),
        Head("classification", len(CLASSES)),
        feature_mean=np.array([1.0, -1.0, 0.5]),
        feature_std=np.array([2.0, 0.5, 1.0]),
    )
    path = folder / "model.keras"
    model.save(path)
    return model, path


def padded_cases(seed: int = 0) -> np.ndarray:
    """float64 (5, 7, 3), the first two cases pre-padded with NaN steps."""
    x = np.random.default_rng(seed).normal(size=(5, 7, len(FEATURES)))
    x[0, :3] = np.nan
    x[1, :1] = np.nan
    return x


def package_classifier(folder: Path) -> tuple[object, Path]:
    """(keras model, MLflow model folder) for the classifier."""
    from search import packaging

    model, path = classifier(folder)
    out = folder / "mlflow-model"
    packaging.package(str(path), classifier_metadata(), str(out), input_shape=(None, len(FEATURES)))
    return model, out


def register(tracker, name: str, model_dir: Path) -> str:
    """Logs the folder to a search run and registers it; returns the version."""
    experiment = tracker.ensure_experiment(name)
    run = tracker.start_search(experiment, name, {}, "{}")
    return tracker.register(name, tracker.log_model(run, str(model_dir)), run, {})
