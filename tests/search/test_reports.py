"""search.reports: parameter importance, the trials' parallel coordinates, per-class test metrics."""

from __future__ import annotations

import numpy as np
import pytest

from search import reports
from search.trial_result import TrialOutcome


def _trial(
    number: int, values: dict, objective: float | None, status: str = "COMPLETED"
) -> TrialOutcome:
    return TrialOutcome(str(number), values, status, objective, None, 1, 3, None, "ckpt", {})


def _trials(count: int, seed: int = 0) -> list[TrialOutcome]:
    # The objective follows the learning rate; the cell and the units are noise.
    rng = np.random.default_rng(seed)
    out = []
    for n in range(count):
        lr = float(10 ** rng.uniform(-4, -2))
        values = {
            "cell": str(rng.choice(["gru", "mgu"])),
            "units": int(rng.choice([8, 16])),
            "learning_rate": lr,
        }
        out.append(_trial(n, values, 0.5 + 0.1 * np.log10(lr) + 0.01 * rng.normal()))
    return out


def test_the_parameter_that_drives_the_objective_is_the_most_important():
    trials = _trials(30) + [_trial(99, {"cell": "gru"}, None, "FAILED")]
    importance = reports.parameter_importance(trials)
    assert list(importance)[0] == "learning_rate" and importance["learning_rate"] > 0.8
    assert set(importance) == {"cell", "units", "learning_rate"}
    assert sum(importance.values()) == pytest.approx(1.0)


def test_too_few_trials_or_nothing_varying_gives_no_importance():
    assert reports.parameter_importance(_trials(4)) == {}
    same = [_trial(n, {"cell": "gru"}, 0.5 + n) for n in range(8)]
    assert reports.parameter_importance(same) == {}


def test_the_figures_draw_completed_trials_only():
    import matplotlib

    matplotlib.use("Agg")
    figure = reports.parallel_coordinates_figure(_trials(6), "val_loss", "min")
    assert len(figure.axes[0].lines) == 6
    assert reports.parallel_coordinates_figure(_trials(1), "val_loss", "min") is None
    assert reports.importance_figure({"learning_rate": 0.9, "cell": 0.1}, "val_loss") is not None


def test_per_class_metrics_match_a_hand_count():
    import matplotlib

    matplotlib.use("Agg")
    y = np.array([0, 0, 1, 1, 2])
    probabilities = np.eye(3)[[0, 1, 1, 1, 0]]  # one 0 read as 1, the 2 read as 0
    metrics, figure = reports.class_report(y, probabilities, ("a", "b c", "z/2"))
    assert metrics["test_recall_a"] == 0.5 and metrics["test_precision_a"] == 0.5
    assert (
        metrics["test_precision_b c"] == pytest.approx(2 / 3) and metrics["test_recall_b c"] == 1.0
    )
    assert metrics["test_f1_z/2"] == 0.0
    assert figure.axes[0].get_title() == "test confusion matrix"
