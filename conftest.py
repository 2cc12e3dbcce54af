"""Fixtures every test may use."""

import datetime as dt

import pytest

from careaccess.core import clock as clock_module


@pytest.fixture(autouse=True)
def _reset_clock():
    clock_module.reset()
    yield
    clock_module.reset()


@pytest.fixture
def clock():
    """The project's clock, frozen at a fixed instant; move it with clock.advance(...)."""
    clock_module.set(dt.datetime(2026, 6, 1, 9, 0, tzinfo=dt.timezone.utc))
    return clock_module
