"""Which trials the registered model is made of: the ranking, and the ensemble's members."""

from __future__ import annotations

import math

from search.trial import sort_key


def rank_trials(trials, mode: str, tiebreak_mode: str = "min") -> list:
    """Completed trials with a checkpoint, best first (objective, then val_loss, then number)."""
    usable = [
        o for o in trials if o.status == "COMPLETED" and o.checkpoint and o.objective is not None
    ]
    return sorted(
        usable, key=lambda o: (*sort_key(o.objective, o.tiebreak, mode, tiebreak_mode), o.number)
    )


def ensemble_members(ranked: list, size: int, objective: str, validation_cases: int) -> list:
    """The top `size` trials, less those whose validation accuracy is clearly below the best's.

    Averaging in a model that validation already shows to be worse drags the ensemble down
    (GunPoint, 5 folds: trials at 0.66 and 0.70 beside one at 0.98). "Clearly" is two binomial
    standard errors of the best's accuracy on the validation cases (at least one case's worth),
    so trials validation cannot tell apart stay. Loss objectives have no such scale: all stay.
    """
    top = ranked[:size]
    if not top or objective not in ("val_accuracy", "accuracy") or validation_cases < 1:
        return top
    best = top[0].objective
    error = max(math.sqrt(best * (1 - best) / validation_cases), 1 / validation_cases)
    return [o for o in top if o.objective >= best - 2 * error]
