"""What the driver asks of whatever runs a session's trials, without naming Ray.

`search.tune.RayTuneRunner` is the real `TrialRunner`: Ray Tune places the trials on a cluster's
workers. `Search` takes any object with the same two methods, so unit tests pass a fake that
drives the searcher in their own process and the driver's resume, time-budget and failure paths
run in seconds.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

from search.trial_result import TrialOutcome

if TYPE_CHECKING:
    from search.searcher import OracleSearcher
    from search.spec.model import RaySettings, Resources
    from search.trial import TrialSettings


@dataclass(frozen=True)
class TuneSettings:
    """How the trials run (from the spec's `search` and `ray` sections)."""

    name: str
    scheduler: str
    max_trials: int
    max_epochs: int
    # Epochs every trial runs before asha/hyperband may stop it.
    grace_period: int
    # Ray's retries of a trial that raised, before it counts as failed.
    max_failures: int
    concurrency: int
    cpus_per_trial: float
    gpus_per_trial: float
    objective: str
    mode: str
    address: str  # "local", "auto" or "ray://host:port"
    storage_dir: str
    # Wall-clock seconds after which Tune stops every trial (each keeps its best epoch); None: none.
    time_budget_s: float | None = None
    # Asked between results: True ends every trial as the time budget does (search.budget's
    # TimeBudget.trials_over, which leaves the refit what it is estimated to need); None: never.
    stop_trials: Callable[[], bool] | None = None


@dataclass(frozen=True)
class TuneOutcome:
    trials: tuple[TrialOutcome, ...]
    stopped_reason: str | None  # why the searcher stopped proposing, if it did
    # Tune's time budget ended the trials (the caller, which knows the whole budget, says so).
    budget_reached: bool = False


@dataclass(frozen=True)
class TrialEvents:
    """What the driver hears of each trial while the trials run, by the trial's number."""

    started: Callable[[str, dict], None]  # (number, its configuration)
    result: Callable[[str, dict], None]  # (number, one epoch's result)
    ended: Callable[[str, str, str | None], None]  # (number, status, reason)
    # (number, epoch): the scheduler stopped it before max_epochs, before its worker hears so.
    stopped_early: Callable[[str, int], None]


class TrialRunner(Protocol):
    def start(self, ray: RaySettings, resources_per_trial: Resources) -> None:
        """Joins (or starts) the cluster; raises ClusterError when no node can hold one trial."""

    def run_trials(
        self,
        task,
        searcher: OracleSearcher,
        settings: TuneSettings,
        trial_settings: TrialSettings,
        *,
        trainer: Callable,
        events: TrialEvents,
    ) -> TuneOutcome:
        """Runs `settings.max_trials` trials that `searcher` proposes; every trial's outcome."""
