"""A spec as a user checks it before launching: what runs, where it is tracked, what is searched."""

from __future__ import annotations

# search.budget imports nothing heavy: validate stays instant.
from search.budget import REFIT_SHARE
from search.spec.model import Spec


def summary(spec: Spec) -> str:
    data, search, tracking = spec.data, spec.search, spec.tracking
    test = "source's own split or 20 %" if data.test_size is None else str(data.test_size)
    forecasting = (
        f", window {data.window}, horizon {data.horizon or 'default'}"
        if data.task == "forecasting"
        else ""
    )
    patience = "off" if search.patience is None else f"{search.patience} epochs"
    budget = (
        ""
        if search.time_budget_minutes is None
        else f" within {search.time_budget_minutes:g} minutes (the whole search)"
    )
    registered = ""
    if search.ensemble > 1:
        registered = (
            f"at most {search.ensemble} trials weighted by greedy ensemble selection"
            if search.ensemble_selection == "greedy"
            else f"the average of the top {search.ensemble} trials"
        )
    origins = data.task == "forecasting"  # folds are rolling origins, and refit after them
    if search.refit:
        refit = "refit on training + validation"
        if search.folds in (None, 1) or origins:
            share = (
                f", in what the trials leave of the last {REFIT_SHARE * 100:g} % of the time "
                "budget (as much as the best trials' refit is estimated to need)"
            )
            refit += share if search.time_budget_minutes else ""
            refit += " unless cross-validated" if search.folds is None and not origins else ""
        else:
            refit = "no refit: the fold models have seen every case"
        registered = (registered or "the best trial") + ", " + refit
    if origins:
        folds = (
            "one time-ordered holdout"
            if search.folds in (None, 1)
            else f"{search.folds} rolling origins"
        )
    elif search.folds is None:
        folds = (
            "auto: 5-fold cross-validation when the validation split holds < 50 cases and the "
            "budget affords 5 fold models, else one holdout"
        )
    else:
        folds = "one holdout" if search.folds == 1 else f"{search.folds}-fold cross-validation"
    resources = search.resources_per_trial
    lines = [
        f"spec {spec.name!r} is valid",
        f"data:     {data.source} ({data.task}{forecasting}); validation {data.validation:g}, "
        f"test {test}",
        f"search:   {search.algorithm} with {search.scheduler}, {search.max_trials} trials of up to "
        f"{search.max_epochs} epochs{budget}, {search.concurrency} at a time "
        f"({resources.cpu:g} CPU, {resources.gpu:g} GPU each); early stopping {patience}; "
        f"seed {search.seed}",
        f"goal:     {search.objective.mode}imise {search.objective.metric}; {folds}",
        f"tracking: {tracking.uri}, experiment {tracking.experiment!r}, "
        f"model {tracking.registered_model!r}" + (f" ({registered})" if registered else ""),
        f"ray:      {spec.ray.address}",
        f"results:  {spec.results_dir}",
        "space:    " + spec.space.describe(),
    ]
    if "downsample" not in spec.space.names:
        lines.append(
            "  (series longer than 256 steps reach the recurrent stack downsampled to at most 256)"
        )
    lines.append(_first_trials(search.first_trials))
    return "\n".join(lines)


def _first_trials(first_trials) -> str:
    if not first_trials:
        return "first:    none; the search algorithm proposes every trial"
    count = len(first_trials)
    rows = [
        f"first:    {count} trial{'s' if count > 1 else ''} before the algorithm proposes (what one leaves out is drawn):"
    ]
    rows += [
        f"  {number:02d}: " + ", ".join(f"{k}={v}" for k, v in values.items())
        for number, values in enumerate(first_trials)
    ]
    return "\n".join(rows)
