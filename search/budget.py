"""search.time_budget_minutes: the whole search's wall-clock budget, across driver sessions.

The budget covers the trials and what follows them (refit and registration), as AutoGluon's
`time_limit` covers its whole fit. The trials get the budget less a reserve for the registration
and, with a refit, less what the refit of the best trials so far is estimated to take
(`RefitGauge`, at most REFIT_SHARE of the budget; `reserve_s` is the most both keep). The refit
then gets what is left, and trains only the chosen trials whose refit is estimated to finish in
it (`plan_refit`); the others keep their search models.

The clock runs from when the first session's trials start. Each session adds its time to the
results folder's record (search.json), so a search killed after 8 of its 10 minutes resumes with
2, and one that failed at registration after its budget resumes straight to registration.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from search.tracking import finite_or_none

# Less than this left: no new trial could report an epoch, so none is started.
MIN_LEFT_S = 1.0
# The most of the budget kept for the refit when search.refit is on: the trials keep running
# into it while the refit of the best trials so far is estimated to take less (RefitGauge).
REFIT_SHARE = 0.2
# A refit's cost besides its epochs, where its trial's first epoch was not timed (a trial of an
# older search resumed): a Ray worker that imports TensorFlow, builds and compiles the model.
REFIT_OVERHEAD_S = 15.0
# Each queue of refits starts a Ray worker that imports TensorFlow; its later refits reuse it.
# Measured at 5-6 s in four forecasting searches' refits (2026-12-08: each refit phase less its
# refits' own runs).
REFIT_WORKER_S = 10.0
# Kept back at the end for testing, logging and registering the model: a fixed part, and a part
# per model it averages (loaded, tested, exported as a SavedModel). On the shared 2-core machine
# (benchmarks/suite.py, 2026-12-03) 25-model ensembles (5 trials x 5 folds) took 94 s
# (ItalyPowerDemand) and 208 s (GunPoint) from the end of the trials to the registered version;
# 5 FCN+GRU models took 11 s to export (2026-12-02).
REGISTRATION_S = 20.0
REGISTRATION_S_PER_MODEL = 6.0
# The registration reserve takes at most this share of a budget, so that a short budget (the
# quickstart's few minutes) still leaves its trials most of it.
MAX_REGISTRATION_SHARE = 1 / 3


@dataclass
class TimeBudget:
    minutes: float | None  # None: no budget (time is still counted)
    spent_s: float = 0.0  # time of earlier sessions
    # Seconds of the budget always kept for after the trials (the registration).
    reserve_s: float = 0.0
    # The most kept for the refit besides: the trials get what the refit will not need.
    refit_share_s: float = 0.0
    _since: float | None = None

    @property
    def left_s(self) -> float | None:
        """What this session's trials have if the refit needs its whole share; None: no budget."""
        if self.minutes is None:
            return None
        return max(0.0, self.minutes * 60 - self.reserve_s - self.refit_share_s - self.spent_s)

    @property
    def most_left_s(self) -> float | None:
        """What this session's trials have if the refit needs none of its share: Tune's
        time_budget_s (`trials_over` ends them earlier); None: no budget."""
        if self.minutes is None:
            return None
        return max(0.0, self.minutes * 60 - self.reserve_s - self.spent_s)

    def trials_over(self, refit_s: float | None) -> bool:
        """Whether the trials must end now to leave the registration its reserve and the refit
        `refit_s` (None: not known yet, its whole share)."""
        if self.minutes is None:
            return False
        return self.used_s() >= self.minutes * 60 - self.reserve_s - self.kept_for_refit(refit_s)

    def kept_for_refit(self, refit_s: float | None) -> float:
        """What the trials leave the refit estimated at `refit_s`: at most its share, all of
        it while nothing is known (None)."""
        return self.refit_share_s if refit_s is None else min(refit_s, self.refit_share_s)

    @property
    def exhausted(self) -> bool:
        return self.left_s is not None and self.left_s < MIN_LEFT_S

    @property
    def reason(self) -> str:
        return f"its time budget of {self.minutes:g} minutes was reached"

    def start(self) -> None:
        """The trials of this session begin now."""
        self._since = time.monotonic()

    def used_s(self) -> float:
        """Time of the whole search so far, this session included."""
        return self.spent_s + (0.0 if self._since is None else time.monotonic() - self._since)

    def after_trials_left_s(self) -> float | None:
        """What the whole budget has left now (for the refit); None for no budget."""
        return None if self.minutes is None else max(0.0, self.minutes * 60 - self.used_s())


@dataclass(frozen=True)
class RefitPlan:
    chosen: tuple  # the members to refit, best first
    skipped: tuple  # the members that keep their search models
    estimate_s: float  # the longest queue of refits, estimated


def plan_refit(
    members,
    epochs_of,
    *,
    left_s: float | None,
    parallel: int,
    growth: float,
    registration_s: float = REGISTRATION_S,
) -> RefitPlan:
    """The members whose refits are estimated to finish within `left_s`, best first.

    Each refit is estimated by `refit_estimate_s`. Refits run `parallel` at a time; each goes to
    the queue that frees first (its first refit also starts a worker, REFIT_WORKER_S), and one
    that would end after the budget (less `registration_s`, the time registration needs) is
    skipped. No budget: every member is chosen.
    """
    if left_s is None:
        return RefitPlan(tuple(members), (), 0.0)
    queues = [0.0] * max(1, parallel)
    known = [m.seconds / max(1, m.epochs) for m in members if m.seconds is not None]
    chosen, skipped = [], []
    for member in members:
        # A trial whose time went unrecorded (an older search resumed) is taken to be as slow
        # as the slowest one known.
        estimate = refit_estimate_s(member, epochs_of(member), growth, max(known, default=0.0))
        queue = min(range(len(queues)), key=queues.__getitem__)
        start = REFIT_WORKER_S if queues[queue] == 0.0 else 0.0
        if queues[queue] + start + estimate <= left_s - registration_s:
            queues[queue] += start + estimate
            chosen.append(member)
        else:
            skipped.append(member)
    return RefitPlan(tuple(chosen), tuple(skipped), max(queues))


def refit_estimate_s(member, epochs: int, growth: float, unknown_per_epoch: float) -> float:
    """Seconds one refit of `member` (a trial's seconds, epochs and first_epoch_s) is estimated
    to take for `epochs` epochs on `growth` times its trial's training cases.

    A trial's first epoch carries what a refit pays once: building the model, its fitted start,
    tracing the training step. Its later epochs are the per-epoch cost, and they include a
    validation pass and the reports, which a refit has not: a cautious rate. On the 11 refits of
    four 5-minute forecasting searches (2026-12-08) this came to 1.3-2.6x what the refits took;
    the trial's mean epoch plus REFIT_OVERHEAD_S, used where the first epoch was not timed, to
    2.6-4.3x (tiny models, whose first epoch is most of their time).
    """
    first = getattr(member, "first_epoch_s", None)
    if member.seconds is None:
        return unknown_per_epoch * epochs * growth + REFIT_OVERHEAD_S
    if first is None or member.epochs < 1:
        return member.seconds / max(1, member.epochs) * epochs * growth + REFIT_OVERHEAD_S
    later = max(0.0, member.seconds - first) / max(1, member.epochs - 1)
    return first + max(0, epochs - 1) * (later if member.epochs > 1 else first) * growth


@dataclass
class _Seen:
    """What the gauge knows of one trial: its latest result."""

    objective: float
    seconds: float
    epochs: int
    best_epoch: int | None
    first_epoch_s: float | None  # the trial's time at its first trained epoch's report


@dataclass
class RefitGauge:
    """The refit the trials so far would need, for `TimeBudget.trials_over`.

    Fed every trial's results as they come, it estimates with `plan_refit` the refits of the
    best `ensemble` trials so far (each at its best epoch so far), plus the slowest epoch seen:
    a running trial ends only at its next report. No margin on top: `refit_estimate_s` is
    itself cautious (see there). Where trials are quick (a forecaster of a short series trains
    in seconds) the trials keep the minute or more a fixed share would have left idle.
    """

    ensemble: int
    mode: str  # "min" or "max": the objective's direction
    epochs_of: Callable  # member -> the epochs its refit trains (`epochs_of` below)
    parallel: int
    growth: float  # refit cases per case a trial's epoch trained
    _trials: dict = field(default_factory=dict)

    def update(self, number: str, result: dict, objective_key: str) -> None:
        """Trial `number`'s latest result (Tune's, with its `time_total_s`); one without an
        objective yet is left out."""
        objective = finite_or_none(result.get(objective_key))
        seconds = finite_or_none(result.get("time_total_s"))
        if objective is None or seconds is None:
            return
        epochs, best_epoch = (
            finite_or_none(result.get("epoch")),
            finite_or_none(result.get("best_epoch")),
        )
        epochs = int(epochs or 0)
        earlier = self._trials.get(number)
        first = earlier.first_epoch_s if earlier is not None else None
        if first is None and epochs == 1:
            first = seconds  # its first trained epoch (epoch 0 is a fitted start's own report)
        self._trials[number] = _Seen(
            objective, seconds, epochs, None if best_epoch is None else int(best_epoch), first
        )

    def add_finished(self, outcome) -> None:
        """A trial that an earlier session of the search finished (a TrialOutcome)."""
        objective, seconds = finite_or_none(outcome.objective), finite_or_none(outcome.seconds)
        if objective is None or seconds is None:
            return
        self._trials[outcome.number] = _Seen(
            objective, seconds, outcome.epochs, outcome.best_epoch, outcome.first_epoch_s
        )

    def estimate_s(self) -> float | None:
        """Seconds the best trials' refits would take, or None before any trial reported."""
        if not self._trials:
            return None
        sign = 1 if self.mode == "min" else -1
        best = sorted(self._trials.values(), key=lambda t: sign * t.objective)[: self.ensemble]
        plan = plan_refit(
            best, self.epochs_of, left_s=math.inf, parallel=self.parallel, growth=self.growth,
            registration_s=0.0,
        )  # fmt: skip
        slowest_epoch = max(t.seconds / max(1, t.epochs) for t in self._trials.values())
        return plan.estimate_s + slowest_epoch


def epochs_of(member, settings) -> int:
    """The epochs a refit trains: those after which its trial was best on validation (0: its
    starting weights were, as a least-squares AR start can be)."""
    return member.best_epoch if member.best_epoch is not None else settings.max_epochs


def refit_growth(task, settings) -> float:
    """Cases a refit epoch trains on (training + validation) per case a trial epoch trained on:
    its training split, or (rolling origins) the training windows of every fold in turn."""
    from search.data.folds import cross_validation_folds

    trained = len(task.x_train)
    if settings.folds > 1:
        folds = cross_validation_folds(task, settings.folds, settings.seed)
        trained = sum(len(fold.x_train) for fold in folds)
    return (len(task.x_train) + len(task.x_val)) / max(1, trained)


def registration_s(search, folds: int) -> float:
    """What registering the search's model is estimated to take: the average of `ensemble`
    trials' models, each of them `folds` fold models under cross-validation."""
    models = max(1, search.ensemble) * max(1, folds)
    return REGISTRATION_S + REGISTRATION_S_PER_MODEL * models


def reserve_s(search, folds: int) -> float:
    """The most seconds of the time budget the trials leave for what follows them: the refit's
    share and the registration's reserve."""
    return refit_share_s(search, folds) + registration_reserve_s(search, folds)


def refit_share_s(search, folds: int) -> float:
    """The most the trials leave for the refit: with a refit, which cross-validated trials whose
    fold models are registered do not have (`folds` > 1)."""
    if search.time_budget_minutes is None or not search.refit or folds > 1:
        return 0.0
    return search.time_budget_minutes * 60 * REFIT_SHARE


def registration_reserve_s(search, folds: int) -> float:
    """What the trials always leave for the registration: its estimate, at most a third."""
    if search.time_budget_minutes is None:
        return 0.0
    budget = search.time_budget_minutes * 60
    return min(registration_s(search, folds), budget * MAX_REGISTRATION_SHARE)
