"""Test metrics against independent references, fed the raw arrays through the model's predict."""

from __future__ import annotations

import numpy as np
import pytest

from cells.architecture import Head
from search.data.metrics import evaluate, regression_metrics
from search.data.task import Task


class TableModel:
    """A stand-in model: returns fixed outputs and records the inputs it was given."""

    def __init__(self, outputs):
        self.outputs = outputs
        self.seen = None

    def predict(self, x, batch_size=None, verbose=None):
        self.seen = x
        return self.outputs


def make_task(kind, y_test, head, x_test=None):
    x_test = np.zeros((len(y_test), 3, 1), np.float32) if x_test is None else x_test
    empty = np.zeros((0, 3, 1), np.float32)
    return Task(
        kind=kind, x_train=empty, y_train=y_test[:0], x_val=empty, y_val=y_test[:0],
        x_test=x_test, y_test=y_test, head=head,
        feature_mean=np.zeros(1, np.float32), feature_std=np.ones(1, np.float32),
        feature_names=("f",), classes=("a", "b", "c") if kind == "classification" else None,
        fingerprint="x",
    )  # fmt: skip


def test_classification_metrics_match_a_hand_computation():
    rng = np.random.default_rng(0)
    y = rng.integers(0, 3, size=50)
    logits = rng.normal(size=(50, 3))
    probabilities = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    x_test = rng.normal(size=(50, 3, 1)).astype(np.float32)
    model = TableModel(probabilities)
    metrics = evaluate(model, make_task("classification", y, Head("classification", 3), x_test))
    assert model.seen is x_test  # raw inputs, untouched
    predicted = probabilities.argmax(axis=1)
    f1 = []
    for c in range(3):
        tp = np.sum((predicted == c) & (y == c))
        precision = tp / max(np.sum(predicted == c), 1)
        recall = tp / max(np.sum(y == c), 1)
        f1.append(0.0 if tp == 0 else 2 * precision * recall / (precision + recall))
    assert metrics["accuracy"] == pytest.approx(np.mean(predicted == y))
    assert metrics["macro_f1"] == pytest.approx(np.mean(f1))
    assert metrics["log_loss"] == pytest.approx(-np.mean(np.log(probabilities[np.arange(50), y])))


def test_regression_metrics_in_original_units():
    y = np.array([[100.0], [200.0], [400.0]], np.float32)
    prediction = np.array([[110.0], [190.0], [400.0]])
    head = Head("regression", 1, target_mean=(0.0,), target_std=(1.0,))
    metrics = evaluate(TableModel(prediction), make_task("regression", y, head))
    assert metrics["mse"] == pytest.approx(200 / 3)
    assert metrics["mae"] == pytest.approx(20 / 3)
    assert metrics["rmse"] == pytest.approx(np.sqrt(200 / 3))
    assert metrics["mape"] == pytest.approx(100 * (0.1 + 0.05 + 0) / 3)
    assert metrics["smape"] == pytest.approx(100 * (20 / 210 + 20 / 390 + 0) / 3)


def test_forecasting_metrics_flatten_horizon_and_targets():
    rng = np.random.default_rng(1)
    y = rng.normal(5, 1, size=(4, 3, 2)).astype(np.float32)
    prediction = y + rng.normal(size=y.shape)
    head = Head("forecasting", 2, horizon=3, target_mean=(0.0, 0.0), target_std=(1.0, 1.0))
    metrics = evaluate(TableModel(prediction), make_task("forecasting", y, head))
    error = prediction - y
    assert metrics["mse"] == pytest.approx(np.mean(error**2))
    assert metrics["mape"] == pytest.approx(100 * np.mean(np.abs(error / y)), rel=1e-5)


def test_mape_skips_zero_targets_and_smape_covers_them():
    metrics = regression_metrics(np.array([0.0, 2.0]), np.array([1.0, 1.0]))
    assert metrics["mape"] == pytest.approx(50.0)
    assert metrics["smape"] == pytest.approx(100 * (2 * 1 / 1 + 2 * 1 / 3) / 2)
    assert np.isnan(regression_metrics(np.zeros(2), np.ones(2))["mape"])


def test_unknown_split_is_refused():
    task = make_task("regression", np.zeros((2, 1), np.float32), Head("regression", 1))
    with pytest.raises(ValueError, match="split must be one of"):
        evaluate(TableModel(np.zeros((2, 1))), task, split="validation")
