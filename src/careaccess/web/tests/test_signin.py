"""Sign-in, sign-out and the lockout after repeated failures."""

import datetime as dt
import re

import pytest
from django.test import Client

from careaccess.core.audit.models import Entry
from careaccess.web.models import SigninThrottle

from .conftest import PASSWORD, person, sign_in, squash

pytestmark = pytest.mark.django_db


def entries(action, **filters):
    return Entry.objects.filter(action=action, **filters)


def test_sign_in_page_uses_the_nhs_shell(client, db):
    response = client.get("/sign-in")
    html = squash(response)
    assert response.status_code == 200
    assert "/static/nhsuk/nhsuk/nhsuk-frontend-system-fonts.min.css" in html
    assert 'class="nhsuk-skip-link"' in html and 'href="#maincontent"' in html
    assert "nhsuk-header__service-name" in html and "careaccess" in html
    assert 'class="nhsuk-footer"' in html
    assert 'name="csrfmiddlewaretoken"' in html
    assert "<title>Sign in – careaccess</title>" in html
    assert "Sign out" not in html


def test_web_fonts_are_asked_for_only_when_turned_on(client, db, settings):
    settings.CAREACCESS_NHSUK_WEB_FONTS = True
    html = squash(client.get("/sign-in"))
    assert "/static/nhsuk/nhsuk/nhsuk-frontend.min.css" in html
    assert "system-fonts" not in html


def test_static_css_is_served(client, db):
    def css(name):
        response = client.get(f"/static/nhsuk/nhsuk/{name}")
        assert response.status_code == 200
        return b"".join(response.streaming_content)

    published, system_fonts = css("nhsuk-frontend.min.css"), css("nhsuk-frontend-system-fonts.min.css")
    assert b".nhsuk-header" in published and b"https://assets.nhs.uk/fonts/" in published
    # `make assets` takes out the @font-face rules and nothing else.
    assert b"assets.nhs.uk" not in system_fonts
    assert system_fonts == re.sub(rb"@font-face\{[^}]*\}", b"", published)


def test_empty_form_shows_the_error_summary(client, db):
    response = client.post("/sign-in", {"username": "", "password": ""})
    html = squash(response)
    assert response.status_code == 200
    assert "<title>Error: Sign in – careaccess</title>" in html
    assert 'class="nhsuk-error-summary"' in html and "There is a problem" in html
    assert '<a href="#username">' in html and '<a href="#password">' in html
    assert html.count("Enter your user ID or email address") == 2  # summary and field
    assert html.count("Enter your password") == 2
    assert "nhsuk-form-group--error" in html


def test_sign_in_with_user_id_then_home(client, sponsor):
    who, assignment = sponsor
    response = sign_in(client, who.uid)
    assert response.status_code == 302 and response.url == "/"
    home = squash(client.get("/"))
    assert "Sam Sponsor" in home
    assert "Acting as Practice manager, Riverside Surgery (A81001)" in home
    assert client.session["careaccess.assignment_id"] == assignment.id
    assert client.session["careaccess.amr"] == ["pwd"]
    entry = entries("signin.succeeded", person_uid=who.uid).get()
    assert entry.actor_kind == "person" and entry.actor_uid == who.uid


def test_sign_in_with_email_in_any_case(client, sponsor):
    who, _ = sponsor
    response = sign_in(client, "  " + who.email.upper() + " ")
    assert response.status_code == 302
    assert client.get("/").status_code == 200


def test_wrong_password_is_refused_without_saying_which_part(client, sponsor):
    who, _ = sponsor
    wrong = squash(sign_in(client, who.uid, "not the password"))
    unknown = squash(sign_in(client, "999999999999", "not the password"))
    message = "The user ID, email address or password is not right. Check them and try again."
    assert message in wrong and message in unknown
    assert "_auth_user_id" not in client.session
    assert entries("signin.failed", person_uid=who.uid).count() == 1
    assert entries("signin.failed", target_type="signin", target_id="unknown username").exists()


def test_next_is_followed_only_within_the_site(client, sponsor):
    who, _ = sponsor
    assert sign_in(client, who.uid, next="/my-access").url == "/my-access"
    client.post("/sign-out")
    assert sign_in(client, who.uid, next="https://evil.example/").url == "/"


def test_throttle_does_not_store_the_typed_username(client, db):
    sign_in(client, "my secret password typed in the wrong box", "x")
    row = SigninThrottle.objects.get()
    assert re.fullmatch(r"[0-9a-f]{64}", row.key)


def _fail(client, username, times):
    response = None
    for _ in range(times):
        response = sign_in(client, username, "wrong password")
    return squash(response)


def test_lockout_after_repeated_failures_then_unlock(client, clock, sponsor, settings):
    who, _ = sponsor
    # 09:00 UTC on 1 June is 10:00 in London (BST); the lock lasts 15 minutes.
    html = _fail(client, who.uid, settings.CAREACCESS_SIGNIN_MAX_FAILURES - 1)
    assert "Too many failed attempts" not in html
    html = _fail(client, who.uid, 1)
    assert "Too many failed attempts. Try again after 10:15." in html
    assert entries("signin.locked", person_uid=who.uid).count() == 1

    # The right password is refused while locked, with the same message, and not even checked.
    clock.advance(dt.timedelta(minutes=14))
    html = squash(sign_in(client, who.uid))
    assert "Too many failed attempts. Try again after 10:15." in html
    assert "_auth_user_id" not in client.session
    assert entries("signin.blocked", person_uid=who.uid).exists()
    # However they type their username: the email address names the same person.
    assert "Too many failed attempts" in squash(sign_in(client, who.email))

    clock.advance(dt.timedelta(minutes=1, seconds=1))
    response = sign_in(client, who.uid)
    assert response.status_code == 302
    assert SigninThrottle.objects.get().failures == 0


def test_lockout_message_is_the_same_for_unknown_usernames(client, clock, sponsor, settings):
    who, _ = sponsor
    known = _fail(client, who.uid, settings.CAREACCESS_SIGNIN_MAX_FAILURES)
    unknown = _fail(client, "nobody@example.nhs.uk", settings.CAREACCESS_SIGNIN_MAX_FAILURES)
    message = "Too many failed attempts. Try again after 10:15."
    assert message in known and message in unknown
    strip = lambda html: re.sub(r'value="[^"]*"', "", html)  # noqa: E731 - CSRF tokens and typed usernames differ
    assert strip(known) == strip(unknown)


def test_failures_outside_the_window_do_not_add_up(client, clock, sponsor, settings):
    who, _ = sponsor
    _fail(client, who.uid, settings.CAREACCESS_SIGNIN_MAX_FAILURES - 1)
    clock.advance(dt.timedelta(minutes=settings.CAREACCESS_SIGNIN_FAILURE_WINDOW_MINUTES, seconds=1))
    html = _fail(client, who.uid, settings.CAREACCESS_SIGNIN_MAX_FAILURES - 1)
    assert "Too many failed attempts" not in html
    assert sign_in(client, who.uid).status_code == 302


def test_lockout_settings_are_read(client, clock, sponsor, settings):
    who, _ = sponsor
    settings.CAREACCESS_SIGNIN_MAX_FAILURES = 2
    settings.CAREACCESS_SIGNIN_LOCKOUT_MINUTES = 30
    html = _fail(client, who.uid, 2)
    assert "Try again after 10:30." in html


def test_suspended_person_cannot_sign_in(client, catalogue):
    from careaccess.directory import services

    from .conftest import SYSTEM

    who = person("Sue", "Pended")
    services.update_person(SYSTEM, who, status="suspended")
    html = squash(sign_in(client, who.uid))
    assert "Your record is suspended, so you cannot sign in." in html
    assert "_auth_user_id" not in client.session
    assert entries("signin.refused", person_uid=who.uid).exists()


def test_sign_out_needs_post_and_a_csrf_token(sponsor):
    who, _ = sponsor
    client = Client(enforce_csrf_checks=True)
    page = client.get("/sign-in").content.decode()
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page).group(1)
    client.post("/sign-in", {"username": who.uid, "password": PASSWORD, "csrfmiddlewaretoken": token})
    assert "_auth_user_id" in client.session

    home = squash(client.get("/"))
    assert re.search(r'<form class="nhsuk-header__account-form" method="post" action="/sign-out"', home)
    response = client.get("/sign-out")  # a typed or reopened address: home, still signed in (POST only signs out)
    assert response.status_code == 302 and response.url == "/" and "_auth_user_id" in client.session
    assert client.post("/sign-out").status_code == 403  # no token
    assert "_auth_user_id" in client.session

    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', home).group(1)
    response = client.post("/sign-out", {"csrfmiddlewaretoken": token})
    assert response.status_code == 302 and response.url == "/sign-in"
    assert "_auth_user_id" not in client.session
    assert entries("signin.signed_out", person_uid=who.uid).exists()


def test_sign_in_needs_a_csrf_token(sponsor):
    who, _ = sponsor
    client = Client(enforce_csrf_checks=True)
    assert client.post("/sign-in", {"username": who.uid, "password": PASSWORD}).status_code == 403
