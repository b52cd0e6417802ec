"""Greedy ensemble selection: the weights it gives, and the held-out predictions it reads."""

from __future__ import annotations

import numpy as np
import pytest

from search.data.metrics import classification_metrics
from search.ensemble_selection import greedy_weights, selection_score


def _mse(y):
    return lambda prediction: (float(np.mean((prediction - y) ** 2)),)


def test_two_models_with_opposite_errors_beat_the_best_single_one():
    y = np.zeros(4)
    best = np.array([0.5, 0.5, 0.5, 0.5])  # MSE 0.25
    high = np.array([1.0, 1.0, 1.0, 1.0])  # MSE 1.0
    low = np.array([-0.9, -0.9, -0.9, -0.9])  # MSE 0.81, but it cancels `best`'s error
    counts = greedy_weights([best, high, low], _mse(y), size=3, rounds=10)
    mean = (counts[0] * best + counts[1] * high + counts[2] * low) / sum(counts)
    assert counts[1] == 0 and counts[2] > 0
    assert np.mean(mean**2) < 0.01  # a single model's best is 0.25


def test_a_single_model_wins_where_no_average_beats_it():
    y = np.zeros(3)
    exact = np.zeros(3)
    worse = [np.full(3, 0.3), np.full(3, 0.6)]
    assert greedy_weights([exact, *worse], _mse(y), size=3) == [1, 0, 0]


def test_at_most_size_distinct_candidates_are_used_and_ties_go_to_the_better_ranked():
    y = np.zeros(6)
    rng = np.random.default_rng(0)
    candidates = [rng.normal(size=6) for _ in range(8)]
    counts = greedy_weights(candidates, _mse(y), size=2, rounds=25)
    assert sum(1 for c in counts if c) <= 2
    identical = [np.ones(3), np.ones(3), np.ones(3)]
    assert greedy_weights(identical, _mse(np.zeros(3)), size=3) == [1, 0, 0]


def test_accuracy_ties_are_broken_by_the_log_loss():
    y = np.array([0, 1])
    score = selection_score("classification", "val_accuracy", "max")
    confident = np.array([[0.9, 0.1], [0.1, 0.9]])
    hesitant = np.array([[0.6, 0.4], [0.4, 0.6]])
    wrong = np.array([[0.1, 0.9], [0.9, 0.1]])
    assert score(confident, y) < score(hesitant, y) < score(wrong, y)
    assert score(confident, y)[0] == score(hesitant, y)[0] == -1.0
    # The same log loss as the reported metrics, on any probabilities.
    rng = np.random.default_rng(0)
    probabilities = rng.dirichlet(np.ones(3), size=20)
    labels = rng.integers(0, 3, size=20)
    expected = classification_metrics(labels, probabilities)
    key = score(probabilities, labels)
    assert key == pytest.approx((-expected["accuracy"], expected["log_loss"]))
    # A loss objective is the log loss; regression's is the trials' MSE (or the MAE asked for).
    assert selection_score("classification", "val_loss", "min")(hesitant, y)[0] == pytest.approx(
        -np.log(0.6)
    )
    targets = np.array([[1.0], [3.0]])
    assert selection_score("regression", "val_loss", "min")(np.array([2.0, 2.0]), targets) == (1.0,)
    assert selection_score("forecasting", "val_mae", "min")(np.array([2.0, 5.0]), targets) == (1.5,)


def test_no_candidates_is_an_error():
    with pytest.raises(ValueError, match="at least one candidate"):
        greedy_weights([], _mse(np.zeros(1)), size=1)
