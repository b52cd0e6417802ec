"""Small stand-ins the test packages share (the real classes, configured for tests)."""

from __future__ import annotations

from search.trial import TrialSettings


def offline_settings(**overrides) -> TrialSettings:
    """TrialSettings for a trial trained in the test's own process: one CPU, no early stopping,
    seed 0, and tracking names no trial run reads (pass a tracker to train_trial, or none)."""
    base = dict(
        objective="val_loss",
        mode="min",
        max_epochs=1,
        patience=None,
        cpus=1,
        tracking_uri="unused",
        experiment_id="e",
        parent_run_id="p",
        seed=0,
    )
    return TrialSettings(**{**base, **overrides})
