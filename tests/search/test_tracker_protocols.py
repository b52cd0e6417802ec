"""The Protocols of search.tracker_protocols and search.runner: the real classes satisfy them,
and so do the fakes in tests/fakes.py, parameter for parameter."""

from __future__ import annotations

import inspect

import pytest

from search.runner import TrialRunner
from search.tracker_protocols import (
    ChampionRegistry,
    RefitTracker,
    SearchTracker,
    TrialTracker,
)
from search.tracking import Tracker
from search.tune import RayTuneRunner
from tests.fakes import FakeRegistry, FakeRunner, FakeTracker


def _methods(protocol) -> dict[str, inspect.Signature]:
    members = {}
    for klass in reversed(protocol.__mro__):
        if klass is not object and getattr(klass, "_is_protocol", False):
            for name, value in vars(klass).items():
                if inspect.isfunction(value) and not name.startswith("_"):
                    members[name] = inspect.signature(value)
    return members


def _parameters(signature: inspect.Signature) -> list[tuple[str, object, object]]:
    return [(p.name, p.kind, p.default) for p in signature.parameters.values()]


CASES = [
    (TrialTracker, Tracker, FakeTracker),
    (RefitTracker, Tracker, FakeTracker),
    (SearchTracker, Tracker, FakeTracker),
    (ChampionRegistry, Tracker, FakeRegistry),
    (TrialRunner, RayTuneRunner, FakeRunner),
]


@pytest.mark.parametrize(("protocol", "real", "fake"), CASES, ids=lambda c: c.__name__)
def test_the_real_class_has_every_method_of_the_protocol_with_its_parameters(protocol, real, fake):
    methods = _methods(protocol)
    assert methods, f"{protocol.__name__} declares no methods"
    for name, wanted in methods.items():
        have = _parameters(inspect.signature(getattr(real, name)))
        # The real one may take more, as keyword arguments with defaults (Tracker.exclusive's waits).
        extra = have[len(wanted.parameters) :]
        assert have[: len(wanted.parameters)] == _parameters(wanted), f"{real.__name__}.{name}"
        assert all(default is not inspect.Parameter.empty for _, _, default in extra)


@pytest.mark.parametrize(("protocol", "real", "fake"), CASES, ids=lambda c: c.__name__)
def test_the_fake_takes_the_same_parameter_names(protocol, real, fake):
    for name, wanted in _methods(protocol).items():
        have = [p[0] for p in _parameters(inspect.signature(getattr(fake, name)))]
        assert have == [p[0] for p in _parameters(wanted)], f"{fake.__name__}.{name}"
