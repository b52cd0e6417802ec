"""search.time_budget_minutes: the whole search's wall-clock budget, across driver sessions.

The budget covers the trials and what follows them (refit and registration), as AutoGluon's
`time_limit` covers its whole fit. The trials get the budget less a reserve for the refit and the
registration (Ray Tune's `time_budget_s`; `reserve_s`); the refit then gets what is left, and trains only the chosen trials
whose refit is estimated to finish in it (`plan_refit`); the others keep their search models.

The clock runs from when the first session's trials start. Each session adds its time to the
results folder's record (search.json), so a search killed after 8 of its 10 minutes resumes with
2, and one that failed at registration after its budget resumes straight to registration.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

# Less than this left: no new trial could report an epoch, so none is started.
MIN_LEFT_S = 1.0
# Share of the budget kept for the refit when search.refit is on.
REFIT_SHARE = 0.2
# Per refit: a Ray worker that imports TensorFlow, builds and compiles the model, saves it.
REFIT_OVERHEAD_S = 15.0
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
    # Seconds of the budget kept for after the trials (refit, registration): the trials do not
    # get them.
    reserve_s: float = 0.0
    _since: float | None = None

    @property
    def left_s(self) -> float | None:
        """What this session may spend on trials: Tune's time_budget_s; None for no budget."""
        if self.minutes is None:
            return None
        return max(0.0, self.minutes * 60 - self.reserve_s - self.spent_s)

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

    A refit trains `epochs_of(member)` epochs on `growth` times the trial's training cases, so it
    takes about the trial's seconds per epoch times that, plus a worker's start-up. Refits run
    `parallel` at a time; each goes to the queue that frees first, and one that would end after
    the budget (less `registration_s`, the time registration needs) is skipped. No budget: every
    member is chosen.
    """
    if left_s is None:
        return RefitPlan(tuple(members), (), 0.0)
    queues = [0.0] * max(1, parallel)
    known = [m.seconds / max(1, m.epochs) for m in members if m.seconds is not None]
    chosen, skipped = [], []
    for member in members:
        # A trial whose time went unrecorded (an older search resumed) is taken to be as slow
        # as the slowest one known.
        per_epoch = (
            member.seconds / max(1, member.epochs)
            if member.seconds is not None
            else max(known, default=0.0)
        )
        estimate = per_epoch * epochs_of(member) * growth + REFIT_OVERHEAD_S
        queue = min(range(len(queues)), key=queues.__getitem__)
        if queues[queue] + estimate <= left_s - registration_s:
            queues[queue] += estimate
            chosen.append(member)
        else:
            skipped.append(member)
    return RefitPlan(tuple(chosen), tuple(skipped), max(queues))


def registration_s(search, folds: int) -> float:
    """What registering the search's model is estimated to take: the average of `ensemble`
    trials' models, each of them `folds` fold models under cross-validation."""
    models = max(1, search.ensemble) * max(1, folds)
    return REGISTRATION_S + REGISTRATION_S_PER_MODEL * models


def reserve_s(search, folds: int) -> float:
    """Seconds of the time budget the trials leave for what follows them: the refit's share
    (with a refit, which cross-validated trials do not have) and the registration."""
    if search.time_budget_minutes is None:
        return 0.0
    budget = search.time_budget_minutes * 60
    refit = budget * REFIT_SHARE if search.refit and folds <= 1 else 0.0
    return refit + min(registration_s(search, folds), budget * MAX_REGISTRATION_SHARE)
