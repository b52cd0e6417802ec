"""Fixtures every test package shares: the in-memory fakes of tests/fakes.py, new for each test.

Named fake_*: some test modules have a `tracker` or `registry` fixture of their own, on a real store.
"""

from __future__ import annotations

import pytest

from tests.fakes import FakeRegistry, FakeTracker


@pytest.fixture
def fake_tracker() -> FakeTracker:
    return FakeTracker()


@pytest.fixture
def fake_registry() -> FakeRegistry:
    return FakeRegistry()
