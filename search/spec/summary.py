"""A spec as a user checks it before launching: what runs, where it is tracked, what is searched."""

from __future__ import annotations

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
    budget = "" if search.time_budget_minutes is None else f" within {search.time_budget_minutes:g} minutes"
    registered = f"the average of the top {search.ensemble} trials" if search.ensemble > 1 else ""
    if search.refit:
        registered = (registered or "the best trial") + ", refit on training + validation"
    resources = search.resources_per_trial
    lines = [
        f"spec {spec.name!r} is valid",
        f"data:     {data.source} ({data.task}{forecasting}); validation {data.validation:g}, "
        f"test {test}",
        f"search:   {search.algorithm} with {search.scheduler}, {search.max_trials} trials of up to "
        f"{search.max_epochs} epochs{budget}, {search.concurrency} at a time "
        f"({resources.cpu:g} CPU, {resources.gpu:g} GPU each); early stopping {patience}; "
        f"seed {search.seed}",
        f"goal:     {search.objective.mode}imise {search.objective.metric}",
        f"tracking: {tracking.uri}, experiment {tracking.experiment!r}, "
        f"model {tracking.registered_model!r}"
        + (f" ({registered})" if registered else ""),
        f"ray:      {spec.ray.address}",
        f"results:  {spec.results_dir}",
        "space:    " + spec.space.describe(),
    ]
    return "\n".join(lines)
