"""The registered ensemble's weights: greedy ensemble selection on held-out predictions.

Averaging the top trials by objective (search.selection) takes five models that each validate
well, but not five that validate well *together*: on small data the top trials are often near
copies of one architecture, and a weaker trial with different errors helps the average more.
Ensemble selection (Caruana et al. 2004, "Ensemble Selection from Libraries of Models"), the
final step of AutoGluon and auto-sklearn, scores the average itself: starting from an empty
ensemble, each round adds (with replacement) the candidate whose addition scores best on the
held-out cases; a candidate's weight is how often it was added. The ensemble kept is the best
round's, so a single model wins where no average beats it.

The held-out predictions are a trial's out-of-fold predictions under cross-validation (each
fold model on the cases it was validated on: every case of the pool, each predicted by a model
that did not train on it), or its predictions on the validation split.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from pathlib import Path

import numpy as np

# Rounds of selection: AutoGluon's default (ensemble_size=25, in its WeightedEnsemble).
ROUNDS = 25
# Candidates the selection looks at, best by objective first.
MAX_CANDIDATES = 15


def select_ensemble(ranked: list, task, objective, size: int, folds: int, seed: int):
    """(members, their weights): the trials of `ranked` (TrialOutcomes, best first) that greedy
    selection puts in an ensemble of at most `size` distinct trials, in rank order."""
    if size <= 1 or len(ranked) == 1:
        return ranked[:1], [1]
    candidates = ranked[:MAX_CANDIDATES]
    checkpoints = [c.checkpoint for c in candidates]
    predictions, y = held_out_predictions(checkpoints, task, folds, seed)
    score = selection_score(task.kind, objective.metric, objective.mode)
    counts = greedy_weights(predictions, lambda prediction: score(prediction, y), size)
    chosen = [(c, count) for c, count in zip(candidates, counts, strict=True) if count]
    return [c for c, _ in chosen], [count for _, count in chosen]


def greedy_weights(
    predictions: list[np.ndarray],
    score: Callable[[np.ndarray], tuple],
    size: int,
    rounds: int = ROUNDS,
) -> list[int]:
    """How often each candidate was added: the best round's ensemble of at most `size` distinct
    candidates. `predictions[i]` is candidate i's output on the held-out cases (probabilities or
    values); `score(prediction)` is a key to minimise. Ties go to the earlier candidate (the
    better ranked) and to the smaller ensemble."""
    if not predictions:
        raise ValueError("greedy_weights needs at least one candidate, but got none.")
    counts = [0] * len(predictions)
    total = np.zeros_like(predictions[0], dtype=np.float64)
    best_key, best_counts = None, None
    for step in range(1, rounds + 1):
        allowed = _allowed(counts, size)
        # Rounded, so that the same average reached in more rounds (1:1 as 11:11) is no better.
        keys = [_rounded(score((total + predictions[i]) / step)) for i in allowed]
        chosen = allowed[min(range(len(allowed)), key=keys.__getitem__)]
        counts[chosen] += 1
        total += predictions[chosen]
        key = min(keys)
        if best_key is None or key < best_key:
            best_key, best_counts = key, list(counts)
    divisor = math.gcd(*best_counts)
    return [count // divisor for count in best_counts]


def _rounded(key: tuple) -> tuple:
    return tuple(float(f"{value:.10g}") for value in key)  # 10 significant digits


def _allowed(counts: list[int], size: int) -> list[int]:
    """Every candidate while fewer than `size` are in; then only those already in."""
    chosen = [i for i, count in enumerate(counts) if count]
    return chosen if len(chosen) >= size else list(range(len(counts)))


def selection_score(kind: str, objective: str, mode: str) -> Callable:
    """`score(prediction, y)`: a key to minimise for the search's objective on held-out cases.

    Accuracy ties often on a few dozen cases, so it is broken by the log loss (as the trials'
    ranking breaks it by val_loss); a loss objective is the log loss for classification and the
    MSE (the trials' loss) otherwise. Plain NumPy: it runs rounds x candidates times."""
    metric = objective.removeprefix("val_")
    if kind == "classification":
        sign = -1.0 if mode == "max" else 1.0

        def classification(probabilities, y):
            p = np.clip(probabilities, 1e-7, 1.0)
            log_loss = float(-np.mean(np.log(p[np.arange(len(y)), y] / p.sum(axis=1))))
            if metric == "accuracy":
                return (sign * float(np.mean(p.argmax(axis=1) == y)), log_loss)
            return (log_loss,)

        return classification

    def regression(prediction, y):
        error = prediction.reshape(-1) - np.asarray(y).reshape(-1)
        return (float(np.mean(np.abs(error) if metric == "mae" else error**2)),)

    return regression


def held_out_predictions(checkpoints: list[str], task, folds: int, seed: int):
    """(each checkpoint's predictions on the held-out cases, those cases' targets): out of fold
    for `folds` > 1 (the folds the trials trained, search.data.folds), else on validation.

    A trial saves them beside its checkpoint (search.trial.HELD_OUT_FILE); a checkpoint without
    them (a search begun by an older version) predicts them here, which takes a model load."""
    from search.data.folds import cross_validation_folds
    from search.trial import HELD_OUT_FILE

    validated = cross_validation_folds(task, folds, seed) if folds > 1 else None
    y = task.y_val if validated is None else np.concatenate([f.y_val for f in validated])
    predictions = []
    for path in checkpoints:
        stored = Path(path).with_name(HELD_OUT_FILE)
        if stored.is_file():
            predictions.append(np.load(stored))
        else:
            predictions.append(_predicted_held_out(path, task, validated))
    return predictions, y


def _predicted_held_out(path: str, task, validated) -> np.ndarray:
    import keras

    from search import registry
    from search.data.metrics import predict

    registry.register_cells()
    model = keras.saving.load_model(path, safe_mode=True, compile=False)
    if validated is None:
        return predict(model, task.x_val)
    # Each fold model (member_i of the checkpointed average) on the cases it was validated on.
    return np.concatenate(
        [predict(model.get_layer(f"member_{i}"), fold.x_val) for i, fold in enumerate(validated)]
    )
