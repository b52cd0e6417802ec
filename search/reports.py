"""What a search user looks for after the leaderboard and MLflow does not draw: which
parameters mattered, how the trials spread over them, and (classification) where the registered
model errs on test. Each is a matplotlib figure (and numbers) for the search's parent run.

Parameter importance is Optuna's `MeanDecreaseImpurityImportanceEvaluator`: a random forest fitted
from the trials' parameters to their objective, each parameter's importance the impurity its
splits remove, summed over its one-hot columns and normalised to sum to 1. It needs a handful of
completed trials to say anything; below MIN_TRIALS none is computed.
"""

from __future__ import annotations

import numpy as np

# Fewer completed trials than this: no importance (a forest of 3 points says nothing).
MIN_TRIALS = 5


def _completed(trials) -> list:
    return [o for o in trials if o.status == "COMPLETED" and o.objective is not None]


def _axis(name: str, values: list) -> np.ndarray | None:
    """A numeric parameter's values as one axis (log10 for the learning rate); None otherwise."""
    if not all(isinstance(v, int | float) and not isinstance(v, bool) for v in values):
        return None
    return np.log10(values) if name == "learning_rate" else np.asarray(values, dtype=float)


def _encoded(trials, names: list[str]) -> tuple[np.ndarray, list[str]]:
    """(design matrix, the parameter of each column): numbers as they are (log10 for a
    learning rate), other values one-hot; a parameter a trial lacks (inactive) is its own value."""
    columns, owners = [], []
    for name in names:
        values = [o.values.get(name) for o in trials]
        numbers = _axis(name, values)
        if numbers is not None:
            columns.append(numbers)
            owners.append(name)
            continue
        for level in sorted({repr(v) for v in values}):
            columns.append([1.0 if repr(v) == level else 0.0 for v in values])
            owners.append(name)
    return np.asarray(columns, dtype=float).T, owners


def parameter_importance(trials, seed: int = 0) -> dict[str, float]:
    """Each searched parameter's share of the objective's variance over the completed trials,
    largest first; empty below MIN_TRIALS completed trials or when nothing varies."""
    from sklearn.ensemble import RandomForestRegressor

    done = _completed(trials)
    names = sorted(
        {k for o in done for k in o.values if len({repr(t.values.get(k)) for t in done}) > 1}
    )
    if len(done) < MIN_TRIALS or not names:
        return {}
    x, owners = _encoded(done, names)
    y = np.asarray([o.objective for o in done], dtype=float)
    if np.ptp(y) == 0:
        return {}
    forest = RandomForestRegressor(n_estimators=64, max_depth=64, random_state=seed).fit(x, y)
    totals = dict.fromkeys(names, 0.0)
    for owner, share in zip(owners, forest.feature_importances_, strict=True):
        totals[owner] += float(share)
    return dict(sorted(totals.items(), key=lambda item: -item[1]))


def importance_figure(importance: dict[str, float], objective: str):
    import matplotlib.pyplot as plt

    figure, axis = plt.subplots(figsize=(6, 0.4 * len(importance) + 1.2))
    names = list(importance)[::-1]
    axis.barh(names, [importance[n] for n in names])
    axis.set(
        title=f"parameter importance for {objective}",
        xlabel="share of the variance (random forest)",
    )
    figure.tight_layout()
    return figure


def parallel_coordinates_figure(trials, objective: str, mode: str):
    """One line per completed trial across every searched parameter (each axis scaled to its
    range, categories evenly spaced), coloured by the objective; None with fewer than 2 trials."""
    import matplotlib.pyplot as plt

    done = _completed(trials)
    names = sorted({k for o in done for k in o.values})
    if len(done) < 2 or not names:
        return None
    scaled, ticks = [], []
    for name in names:
        values = [o.values.get(name) for o in done]
        numbers = _axis(name, values)
        if numbers is not None:
            low, high = float(np.min(numbers)), float(np.max(numbers))
            scaled.append((numbers - low) / (high - low or 1.0))
            ticks.append(f"{name}\n{_short(min(values))}..{_short(max(values))}")
        else:
            levels = sorted({repr(v) for v in values})
            position = {level: i / max(1, len(levels) - 1) for i, level in enumerate(levels)}
            scaled.append(np.asarray([position[repr(v)] for v in values]))
            ticks.append(f"{name}\n" + " | ".join(level.strip("'") for level in levels))
    scores = np.asarray([o.objective for o in done], dtype=float)
    goodness = (scores - scores.min()) / (np.ptp(scores) or 1.0)  # 1 = the best trial
    goodness = goodness if mode == "max" else 1.0 - goodness
    colours = plt.cm.viridis(goodness)
    order = np.argsort(goodness)  # the best drawn last, on top
    figure, axis = plt.subplots(figsize=(max(6, 1.3 * len(names)), 4.5))
    grid = np.stack(scaled)  # (parameters, trials)
    for trial in order:
        axis.plot(range(len(names)), grid[:, trial], color=colours[trial], alpha=0.8)
    axis.set_xticks(range(len(names)), ticks, fontsize=7)
    axis.set_yticks([])
    axis.set_title(f"trials across the space (colour: {objective}, bright = best)")
    figure.tight_layout()
    return figure


def _short(value) -> str:
    return f"{value:.3g}" if isinstance(value, float) else str(value)


def class_report(y: np.ndarray, probabilities: np.ndarray, classes) -> tuple[dict, object]:
    """Per-class precision, recall and F1 on test (metric names test_<what>_<class>) and the
    confusion matrix as a figure (rows: true class)."""
    import matplotlib.pyplot as plt
    from sklearn.metrics import ConfusionMatrixDisplay, precision_recall_fscore_support

    predicted = np.asarray(probabilities).argmax(axis=1)
    labels = np.arange(len(classes))
    precision, recall, f1, _ = precision_recall_fscore_support(
        y, predicted, labels=labels, zero_division=0
    )
    metrics = {}
    for index, name in enumerate(classes):
        key = _metric_safe(str(name))
        metrics |= {f"test_precision_{key}": float(precision[index]), f"test_recall_{key}": float(recall[index]),
                    f"test_f1_{key}": float(f1[index])}  # fmt: skip
    figure, axis = plt.subplots(figsize=(1.0 + 0.6 * len(classes), 0.8 + 0.6 * len(classes)))
    ConfusionMatrixDisplay.from_predictions(
        y,
        predicted,
        labels=labels,
        display_labels=[str(c) for c in classes],
        ax=axis,
        colorbar=False,
    )
    axis.set_title("test confusion matrix")
    figure.tight_layout()
    return metrics, figure


def _metric_safe(name: str) -> str:
    """MLflow metric names take letters, digits, _ - . / and spaces; anything else becomes _."""
    return "".join(c if c.isalnum() or c in "_-./ " else "_" for c in name)
