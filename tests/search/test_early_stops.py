"""search.tune's scheduler wrapper tells the driver the trials it stopped early, and only those."""

from __future__ import annotations

from types import SimpleNamespace

from search.trial_result import TRIAL_NUMBER_KEY
from search.tune import TuneSettings, _scheduler, _telling_early_stops


class FakeScheduler:
    STOP, CONTINUE = "STOP", "CONTINUE"

    def __init__(self, decisions: dict[int, str]):
        self.decisions = decisions

    def on_trial_result(self, tune_controller, trial, result):
        return self.decisions[result["epoch"]]


def test_only_stops_before_max_epochs_are_early():
    told = []
    scheduler = _telling_early_stops(FakeScheduler)({2: "CONTINUE", 3: "STOP", 10: "STOP"})
    scheduler.max_epochs, scheduler.on_stopped_early = (
        10,
        lambda number, epoch: told.append((number, epoch)),
    )
    trial = SimpleNamespace(config={TRIAL_NUMBER_KEY: "7", "units": 8})
    assert [scheduler.on_trial_result(None, trial, {"epoch": e}) for e in (2, 3, 10)] == [
        "CONTINUE",
        "STOP",
        "STOP",
    ]
    # ASHA says STOP to a trial that reached max_t too: that one ran to its end.
    assert told == [("7", 3)]
    # Tune pickles its scheduler with the experiment; the driver's callback is not part of it.
    assert scheduler.__getstate__()["on_stopped_early"] is None


def test_asha_and_hyperband_tell_fifo_never_stops():
    from ray.tune.schedulers import AsyncHyperBandScheduler, FIFOScheduler

    def settings(scheduler):
        return TuneSettings(
            name="n",
            scheduler=scheduler,
            max_trials=4,
            max_epochs=20,
            grace_period=5,
            max_failures=0,
            concurrency=1,
            cpus_per_trial=1.0,
            gpus_per_trial=0.0,
            objective="val_loss",
            mode="min",
            address="local",
            storage_dir="/tmp",
        )

    tell = print
    for name in ("asha", "hyperband"):
        scheduler = _scheduler(settings(name), tell)
        assert isinstance(scheduler, AsyncHyperBandScheduler)
        assert (scheduler.max_epochs, scheduler.on_stopped_early) == (20, tell)
    assert type(_scheduler(settings("fifo"), tell)) is FIFOScheduler
