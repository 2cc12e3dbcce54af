"""Fixtures and markers every test may use."""

import datetime as dt
import importlib.util
import os

import pytest
from hypothesis import settings as hypothesis_settings

from careaccess.core import clock as clock_module

# Property tests explore the same examples on every run, so CI cannot turn red on a new random one;
# widen the search locally with --hypothesis-seed or a profile of your own.
hypothesis_settings.register_profile("careaccess", derandomize=True, deadline=None)
hypothesis_settings.load_profile("careaccess")

CHROMIUM = "/usr/bin/chromium"


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(config, items):
    from django.conf import settings

    on_postgres = settings.DATABASES["default"]["ENGINE"].endswith("postgresql")
    can_drive_chromium = os.path.exists(CHROMIUM) and importlib.util.find_spec("playwright") is not None
    for item in items:
        if "postgres" in item.keywords and not on_postgres:
            item.add_marker(pytest.mark.skip(reason="needs PostgreSQL: set DATABASE_URL (CI runs it)"))
        if "browser" in item.keywords and not can_drive_chromium:
            item.add_marker(pytest.mark.skip(reason="needs Debian's Chromium and Playwright: "
                                                    "apt-get install -y chromium; make install-test"))
    # The browser tests share one Chromium, and Playwright's event loop runs in this thread until the
    # session ends: they run last, so no other test finds a running loop (pytest-django's order
    # within each group is kept).
    items.sort(key=lambda item: item.get_closest_marker("browser") is not None)


@pytest.fixture(scope="session")
def browser():
    """Debian's Chromium driven by Playwright, launched once for all the browser tests."""
    from playwright.sync_api import sync_playwright

    # The ORM calls of the test bodies would otherwise be refused as "async unsafe" while
    # Playwright's loop runs.
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(
            executable_path=CHROMIUM,
            args=["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                  "--disable-sync", "--no-first-run"])
        yield chromium
        chromium.close()


@pytest.fixture
def new_page(browser, request):
    """Open a page in a browser context of its own: new_page(java_script_enabled=False) and the like
    (options go to Browser.new_context). Contexts close when the test ends."""
    if request.node.get_closest_marker("browser") is None:
        pytest.fail("a test that drives the browser must be marked pytest.mark.browser (those run last)")
    contexts = []

    def open_page(**options):
        context = browser.new_context(**{"viewport": {"width": 1280, "height": 900}, **options})
        context.set_default_timeout(20_000)
        contexts.append(context)
        return context.new_page()

    yield open_page
    for context in contexts:
        context.close()


@pytest.fixture
def page(new_page):
    """A page in a fresh browser context (see new_page)."""
    return new_page()


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
