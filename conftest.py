"""Fixtures and markers every test may use."""

import datetime as dt
import os

import pytest
from hypothesis import settings as hypothesis_settings

from careaccess.core import clock as clock_module

# Property tests explore the same examples on every run, so CI cannot turn red on a new random one;
# widen the search locally with --hypothesis-seed or a profile of your own.
hypothesis_settings.register_profile("careaccess", derandomize=True, deadline=None)
hypothesis_settings.load_profile("careaccess")


def pytest_collection_modifyitems(config, items):
    from django.conf import settings

    on_postgres = settings.DATABASES["default"]["ENGINE"].endswith("postgresql")
    has_chromium = os.path.exists("/usr/bin/chromium")
    for item in items:
        if "postgres" in item.keywords and not on_postgres:
            item.add_marker(pytest.mark.skip(reason="needs PostgreSQL: set DATABASE_URL (CI runs it)"))
        if "browser" in item.keywords and not has_chromium:
            item.add_marker(pytest.mark.skip(reason="needs Debian's Chromium: apt-get install -y chromium"))


@pytest.fixture(autouse=True)
def _password_only_sign_in(settings):
    """Tests sign staff in with a password alone; the second factor's own tests turn it back on
    (it is on by default in settings.py: issue 5, staff with RA or sponsor rights)."""
    settings.CAREACCESS_REQUIRE_SECOND_FACTOR = False


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
