"""Test metrics in original units, computed with NumPy from a model's predictions."""

from __future__ import annotations

import numpy as np

from search.data.task import Task

SPLITS = ("train", "val", "test")
# |y| below this counts as zero for MAPE, which is then taken over the other targets only.
NEAR_ZERO = 1e-8


def predict(model, x: np.ndarray, batch_size: int = 16) -> np.ndarray:
    """The model's output for raw inputs; any object with Keras' `predict` works.

    Small batches: a registered ensemble of 25 models with MiniRocket features held
    18.9 GB predicting in batches of 256 on TensorFlow, 1.6 GB in batches of 32 (150 steps;
    1460 steps in batches of 16: 2.3 GB)."""
    return np.asarray(model.predict(x, batch_size=batch_size, verbose=0))


def evaluate(model, task: Task, split: str = "test", prediction=None) -> dict[str, float]:
    """Metrics of `model` on one split of `task`, fed the split's raw arrays (or of
    `prediction`, the model's output for them, where the caller has it already).

    Classification: accuracy, macro_f1, log_loss. Regression and forecasting: mse, mae, rmse,
    mape and smape (both in percent). MAPE skips targets within NEAR_ZERO of zero (it would
    divide by them); sMAPE, which divides by |y| + |prediction|, is reported alongside.
    """
    if split not in SPLITS:
        raise ValueError(f"split must be one of {SPLITS}, but got {split!r}.")
    x, y = getattr(task, f"x_{split}"), getattr(task, f"y_{split}")
    if prediction is None:
        prediction = predict(model, x)
    if task.kind == "classification":
        return classification_metrics(y, prediction)
    return regression_metrics(y, prediction)


def classification_metrics(y: np.ndarray, probabilities: np.ndarray) -> dict[str, float]:
    from sklearn.metrics import f1_score

    probabilities = np.clip(probabilities.astype(np.float64), 1e-7, 1.0)
    probabilities /= probabilities.sum(axis=1, keepdims=True)
    predicted = probabilities.argmax(axis=1)
    labels = np.arange(probabilities.shape[1])
    return {
        "accuracy": float(np.mean(predicted == y)),
        "macro_f1": float(f1_score(y, predicted, labels=labels, average="macro", zero_division=0)),
        "log_loss": float(-np.mean(np.log(probabilities[np.arange(len(y)), y]))),
    }


def regression_metrics(y: np.ndarray, prediction: np.ndarray) -> dict[str, float]:
    y = np.asarray(y, dtype=np.float64).ravel()
    prediction = np.asarray(prediction, dtype=np.float64).reshape(-1)
    if y.shape != prediction.shape:
        raise ValueError(
            f"Predictions have {prediction.size} values but the targets {y.size}; check the model's head."
        )
    error = prediction - y
    nonzero = np.abs(y) > NEAR_ZERO
    denominator = np.abs(y) + np.abs(prediction)
    both_zero = denominator <= NEAR_ZERO
    smape = np.where(both_zero, 0.0, 2 * np.abs(error) / np.where(both_zero, 1.0, denominator))
    mse = float(np.mean(error**2))
    return {
        "mse": mse,
        "mae": float(np.mean(np.abs(error))),
        "rmse": float(np.sqrt(mse)),
        "mape": float(100 * np.mean(np.abs(error[nonzero] / y[nonzero])))
        if nonzero.any()
        else float("nan"),
        "smape": float(100 * np.mean(smape)),
    }
