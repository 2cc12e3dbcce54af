"""The page-only middleware (sessions, CSRF, sign-in, messages, clickjacking) runs for pages and not
for the token-authenticated JSON API under /api/."""

from __future__ import annotations

import pytest
from django.test import Client, override_settings

from careaccess.api.testing import world  # noqa: F401

pytestmark = pytest.mark.django_db


def test_pages_keep_their_middleware():
    client = Client(enforce_csrf_checks=True)
    page = client.get("/sign-in")
    assert page["X-Frame-Options"] == "DENY" and "csrftoken" in page.cookies
    assert page.wsgi_request.user.is_anonymous and hasattr(page.wsgi_request, "session")
    assert client.post("/sign-in", {"username": "x", "password": "y"}).status_code == 403  # no CSRF token


def test_the_api_skips_them(world):
    response = world.portal_client.post("/decisions", {"uid": world.sponsor_actor.person_uid, "activity": "B0264"})
    assert response.status_code == 200 and response["X-Request-ID"]
    assert "X-Frame-Options" not in response and not response.cookies
    assert not hasattr(response.wsgi_request, "session") and not hasattr(response.wsgi_request, "user")
    strict = Client(enforce_csrf_checks=True)  # a POST with no CSRF token is refused for want of a bearer token
    assert strict.post("/api/v1/decisions", data="{}", content_type="application/json").status_code == 401


@override_settings(PAGE_MIDDLEWARE=["django.middleware.clickjacking.XFrameOptionsMiddleware",
                                    "careaccess.core.tests.test_middleware.WithExceptionHook"])
def test_middleware_with_hooks_it_cannot_run_is_refused():
    from django.core.exceptions import ImproperlyConfigured

    from careaccess.core.middleware import PagesOnlyMiddleware

    with pytest.raises(ImproperlyConfigured, match="WithExceptionHook"):
        PagesOnlyMiddleware(lambda request: None)


class WithExceptionHook:
    def __init__(self, get_response):
        self.get_response = get_response

    def process_exception(self, request, exception):
        return None
