"""The time after the trials, phase by phase, as search.log and summary.json report it."""

from __future__ import annotations

import itertools

import pytest

from search import summary


def test_phases_add_up_per_name_and_count_a_phase_that_raised():
    readings = itertools.count(0.0, 1.5)  # every reading of the clock is 1.5 s after the last
    phases = summary._Phases(clock=lambda: next(readings))
    with phases("loading"):
        pass
    with phases("registering"):
        pass
    with pytest.raises(OSError), phases("registering"):
        raise OSError("the store went away")
    assert phases.rounded() == {"loading": 1.5, "registering": 3.0}
    assert str(phases) == "4.5 s (loading 1.5 s, registering 3.0 s)"
