"""The search's time budget, carried across --resume sessions."""

from __future__ import annotations

import time

from search.budget import MIN_LEFT_S, TimeBudget


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
