"""The search's time budget, carried across --resume sessions."""

from __future__ import annotations

import time
from types import SimpleNamespace

import pytest

from search.budget import (
    MIN_LEFT_S,
    REFIT_OVERHEAD_S,
    REFIT_SHARE,
    REFIT_WORKER_S,
    REGISTRATION_S,
    TimeBudget,
    plan_refit,
)


def test_a_resumed_search_gets_what_earlier_sessions_left():
    budget = TimeBudget(10, spent_s=8 * 60)
    assert budget.left_s == 2 * 60 and not budget.exhausted
    assert budget.reason == "its time budget of 10 minutes was reached"


def test_a_spent_budget_starts_no_trial():
    assert TimeBudget(0.5, spent_s=31).left_s == 0.0
    assert TimeBudget(0.5, spent_s=31).exhausted
    assert TimeBudget(0.5, spent_s=30 - MIN_LEFT_S / 2).exhausted  # too little for any epoch


def test_no_budget_is_never_exhausted_and_still_counts_trial_time():
    budget = TimeBudget(None, spent_s=100)
    assert budget.left_s is None and not budget.exhausted
    assert budget.used_s() == 100  # not started: this session has spent nothing yet
    budget.start()
    time.sleep(0.05)
    assert 100.04 < budget.used_s() < 110


def test_with_a_refit_the_trials_leave_its_share_of_the_budget():
    budget = TimeBudget(10, reserve_s=10 * 60 * REFIT_SHARE)
    assert budget.left_s == 8 * 60
    budget.start()
    assert 10 * 60 - 1 < budget.after_trials_left_s() <= 10 * 60  # the refit gets the rest


def test_the_trials_leave_the_registration_its_time_for_each_model_it_averages():
    from search.budget import REGISTRATION_S_PER_MODEL, registration_s, reserve_s
    from search.spec.model import SearchSettings

    defaults = SearchSettings()  # 10 minutes, 5 trials averaged, refit on
    holdout = registration_s(defaults, folds=1)
    assert holdout == REGISTRATION_S + 5 * REGISTRATION_S_PER_MODEL
    assert reserve_s(defaults, folds=1) == 10 * 60 * REFIT_SHARE + holdout
    # Five folds: no refit, 25 models to register (170 s of the 600).
    assert reserve_s(defaults, folds=5) == registration_s(defaults, folds=5) == 170.0
    # A short budget keeps two thirds of it for the trials, whatever the ensemble.
    short = SearchSettings(time_budget_minutes=2, refit=False)
    assert reserve_s(short, folds=5) == pytest.approx(2 * 60 / 3)
    assert reserve_s(SearchSettings(time_budget_minutes=None), folds=5) == 0.0


def _member(number, seconds, epochs, best_epoch, first_epoch_s=None, objective=None):
    """A TrialOutcome's timing fields (and objective), as plan_refit and the gauge read them."""
    return SimpleNamespace(
        number=number,
        seconds=seconds,
        epochs=epochs,
        best_epoch=best_epoch,
        first_epoch_s=first_epoch_s,
        objective=objective,
    )


def test_the_refit_trains_only_the_members_that_finish_within_what_is_left():
    # A first epoch of 8 s, then 2 s per epoch; 30 best epochs, 25 % more cases: 8 + 29 x 2.5 s
    # each, and each queue's first refit starts a worker.
    members = [_member(str(i), 8.0 + 39 * 2.0, 40, 30, first_epoch_s=8.0) for i in range(5)]
    each = 8.0 + 29 * 2.0 * 1.25
    plan = plan_refit(
        members,
        lambda m: m.best_epoch,
        left_s=REFIT_WORKER_S + 1.5 * each + REGISTRATION_S,
        parallel=2,
        growth=1.25,
    )
    # Two queues of one refit each fit; the third would end after the budget.
    assert [m.number for m in plan.chosen] == ["0", "1"]
    assert [m.number for m in plan.skipped] == ["2", "3", "4"]
    assert plan.estimate_s == pytest.approx(REFIT_WORKER_S + each)
    roomy = plan_refit(
        members,
        lambda m: m.best_epoch,
        left_s=REFIT_WORKER_S + 2.5 * each + REGISTRATION_S,
        parallel=2,
        growth=1.25,
    )
    assert len(roomy.chosen) == 4  # two queues of two: one worker start each


def test_a_refit_pays_its_trials_first_epoch_once_and_its_later_epochs_per_epoch():
    from search.budget import refit_estimate_s

    # 10 s to the first epoch's report, then 0.5 s per epoch: 10 + 19 x 0.5 x 1.5.
    member = _member("0", 10.0 + 29 * 0.5, 30, 20, first_epoch_s=10.0)
    assert refit_estimate_s(member, 20, 1.5, 0.0) == pytest.approx(10.0 + 19 * 0.5 * 1.5)
    # A refit of 0 epochs (the fitted start was best) still builds and fits its start.
    assert refit_estimate_s(member, 0, 1.5, 0.0) == pytest.approx(10.0)
    # One epoch trained: its only epoch is all the rate there is.
    once = _member("1", 4.0, 1, 1, first_epoch_s=4.0)
    assert refit_estimate_s(once, 3, 1.0, 0.0) == pytest.approx(4.0 + 2 * 4.0)
    # Not timed (a resumed older search): the mean epoch and a full start-up per refit.
    untimed = _member("2", 30.0, 30, 20)
    assert refit_estimate_s(untimed, 20, 1.5, 0.0) == pytest.approx(
        1.0 * 20 * 1.5 + REFIT_OVERHEAD_S
    )
    assert refit_estimate_s(_member("3", None, 0, None), 10, 1.0, 2.0) == pytest.approx(
        2.0 * 10 + REFIT_OVERHEAD_S
    )


def test_a_cheap_member_after_a_skipped_one_still_fits_and_no_budget_refits_all():
    members = [_member("slow", 1000.0, 10, 10), _member("fast", 10.0, 10, 10)]
    plan = plan_refit(members, lambda m: m.best_epoch, left_s=120, parallel=1, growth=1.0)
    assert [m.number for m in plan.chosen] == ["fast"] and [m.number for m in plan.skipped] == [
        "slow"
    ]
    assert plan_refit(
        members, lambda m: m.best_epoch, left_s=None, parallel=1, growth=1.0
    ).chosen == tuple(members)
    # A trial whose time is unknown counts as the slowest known one.
    unknown = [_member("a", None, 10, 10), _member("b", 1000.0, 10, 10)]
    assert (
        plan_refit(unknown, lambda m: m.best_epoch, left_s=500, parallel=2, growth=1.0).chosen == ()
    )


def test_the_trials_run_into_the_refit_share_only_as_far_as_the_refit_leaves_free():
    budget = TimeBudget(10, reserve_s=50, refit_share_s=120)
    assert budget.left_s == 600 - 50 - 120 and budget.most_left_s == 600 - 50
    budget.spent_s = 600 - 50 - 120 - 1  # just before the share begins
    assert not budget.trials_over(None) and not budget.trials_over(30)
    budget.spent_s = 600 - 50 - 100  # 20 s into the share
    assert budget.trials_over(None)  # nothing known of the refit yet: its whole share is kept
    assert budget.trials_over(500)  # never more than the share, however slow the refit looks
    assert not budget.trials_over(30)  # a quick refit leaves the trials 70 s more
    budget.spent_s = 600 - 50 - 30
    assert budget.trials_over(30)
    assert not TimeBudget(None).trials_over(None)


def _report(gauge, number, objective, seconds, epoch, best_epoch=None) -> None:
    """Feeds `gauge` one Tune result of trial `number`."""
    result = {"best_objective": objective, "time_total_s": seconds, "epoch": epoch}
    gauge.update(number, result | {"best_epoch": best_epoch}, "best_objective")


def test_the_refit_gauge_estimates_the_refits_of_the_best_trials_so_far():
    from search.budget import RefitGauge

    def epochs_of(member):
        return member.best_epoch if member.best_epoch is not None else 100

    gauge = RefitGauge(2, "min", epochs_of, parallel=1, growth=1.25)
    assert gauge.estimate_s() is None  # no trial has reported
    # 1 s per epoch each; the best two (losses 0.1 and 0.2) refit 8 and 4 epochs, one at a time.
    _report(gauge, "0", 0.1, 10.0, 10, best_epoch=8)
    _report(gauge, "1", 0.9, 90.0, 90, best_epoch=90)
    _report(gauge, "2", 0.2, 5.0, 5, best_epoch=4)
    # None reported its first epoch: each refit costs its mean epoch and a full start-up, and
    # the queue starts a worker.
    refits = REFIT_WORKER_S + (8 * 1.25 + REFIT_OVERHEAD_S) + (4 * 1.25 + REFIT_OVERHEAD_S)
    # ... and one epoch of the slowest trial (1 s), which a running trial may take to stop.
    assert gauge.estimate_s() == pytest.approx(refits + 1.0)
    # A later result replaces the trial's earlier one; a result with no objective yet is skipped.
    _report(gauge, "2", 0.05, 20.0, 20, best_epoch=20)
    _report(gauge, "3", float("nan"), 1.0, 1)
    refits = REFIT_WORKER_S + (20 * 1.25 + REFIT_OVERHEAD_S) + (8 * 1.25 + REFIT_OVERHEAD_S)
    assert gauge.estimate_s() == pytest.approx(refits + 1.0)
    # Maximised objectives rank the other way.
    high = RefitGauge(1, "max", epochs_of, parallel=1, growth=1.0)
    _report(high, "0", 0.9, 4.0, 4, best_epoch=2)
    _report(high, "1", 0.5, 50.0, 50, best_epoch=50)
    assert high.estimate_s() == pytest.approx(REFIT_WORKER_S + (2 * 1.0 + REFIT_OVERHEAD_S) + 1.0)


def test_the_most_the_trials_leave_is_the_refit_share_and_the_registration_reserve():
    from search.budget import refit_share_s, registration_reserve_s, reserve_s
    from search.spec.model import SearchSettings

    defaults = SearchSettings()
    assert refit_share_s(defaults, folds=1) == 10 * 60 * REFIT_SHARE
    assert refit_share_s(defaults, folds=5) == 0.0  # the fold models are registered: no refit
    assert refit_share_s(SearchSettings(refit=False), folds=1) == 0.0
    assert reserve_s(defaults, folds=1) == refit_share_s(defaults, 1) + registration_reserve_s(
        defaults, 1
    )


def test_the_refit_gauge_reads_a_result_before_its_best_epoch_is_known():
    from search.budget import RefitGauge

    gauge = RefitGauge(1, "min", lambda member: member.best_epoch or 7, parallel=1, growth=1.0)
    _report(gauge, "0", 0.3, None, 2)  # no time yet
    assert gauge.estimate_s() is None
    # Tune's first result: best_epoch is NaN until one is known (7 epochs are then assumed).
    _report(gauge, "0", 0.3, 4.0, 2, best_epoch=float("nan"))
    assert gauge.estimate_s() == pytest.approx(REFIT_WORKER_S + (2.0 * 7 + REFIT_OVERHEAD_S) + 2.0)


def test_the_refit_gauge_times_a_trials_first_epoch_apart_from_its_later_ones():
    from search.budget import RefitGauge

    gauge = RefitGauge(1, "min", lambda member: member.best_epoch, parallel=1, growth=2.0)
    _report(gauge, "0", 0.5, 1.0, 0, best_epoch=0)  # a fitted start's own report: epoch 0
    _report(gauge, "0", 0.4, 6.0, 1, best_epoch=1)  # building, tracing, one epoch: 6 s
    _report(gauge, "0", 0.3, 6.5, 2, best_epoch=2)
    _report(gauge, "0", 0.2, 7.0, 3, best_epoch=3)  # then 0.5 s an epoch
    # The refit: a worker, the first epoch once, two more on twice the cases; then the slowest
    # trial's mean epoch, which a running trial may take to stop.
    assert gauge.estimate_s() == pytest.approx(REFIT_WORKER_S + 6.0 + 2 * 0.5 * 2.0 + 7.0 / 3)


def test_a_resumed_search_gauges_the_trials_its_earlier_sessions_finished():
    from search.budget import RefitGauge

    gauge = RefitGauge(1, "min", lambda member: member.best_epoch, parallel=1, growth=1.0)
    gauge.add_finished(_member("0", 12.0, 5, 3, first_epoch_s=4.0, objective=0.2))
    gauge.add_finished(_member("1", None, 5, 3, objective=0.1))  # never timed: left out
    assert gauge.estimate_s() == pytest.approx(REFIT_WORKER_S + 4.0 + 2 * 2.0 + 12.0 / 5)
