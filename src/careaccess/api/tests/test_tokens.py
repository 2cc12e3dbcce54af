"""API tokens: made once, stored hashed, audited, revoked; bearer authentication; the CLI."""

from __future__ import annotations

import datetime as dt
import hashlib
import io

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from careaccess.api.testing import SYSTEM, ApiClient, client_for, ledger_size, world  # noqa: F401
from careaccess.core import tokens
from careaccess.core.audit.models import Entry
from careaccess.core.errors import Forbidden, InvalidInput
from careaccess.core.models import ApiToken
from careaccess.directory import testing as build

pytestmark = pytest.mark.django_db


def test_create_token_stores_only_the_hash_and_audits(world):
    person = build.person("Token", "Holder")
    before = ledger_size()
    token, secret = tokens.create_token(SYSTEM, "portal", person=person)
    assert secret.startswith(f"ca_{token.prefix}_")
    assert len(secret) > 40
    assert token.secret_hash == hashlib.sha256(secret.encode()).hexdigest()
    assert secret not in str(ApiToken.objects.filter(pk=token.pk).values().first())
    assert ledger_size() == before + 1
    entry = Entry.objects.get(index=before)
    assert entry.action == "api_token.created"
    assert token.prefix in entry.after and secret not in entry.after and token.secret_hash not in entry.after


def test_create_token_needs_exactly_one_holder_and_a_name(world):
    person = build.person("Token", "Holder")
    with pytest.raises(InvalidInput) as exc:
        tokens.create_token(SYSTEM, "", person=person, service=world.portal)
    assert set(exc.value.errors) == {"name", "person"}
    with pytest.raises(InvalidInput):
        tokens.create_token(SYSTEM, "nobody")


def test_only_ra_managers_create_tokens(world):
    before = ledger_size()
    with pytest.raises(Forbidden):
        tokens.create_token(world.sponsor_actor, "mine", person=build.person("A", "B"))
    assert ledger_size() == before + 1  # the person was made; the token was not
    token, _ = tokens.create_token(world.ra_manager_actor, "theirs", service=world.portal)
    entry = Entry.objects.get(index=ledger_size() - 1)
    assert entry.action == "api_token.created" and entry.actor_position  # the acting position is recorded
    assert token.service == world.portal


def test_authenticate_person_and_service(world):
    person = build.person("Token", "Holder")
    _, secret = tokens.create_token(SYSTEM, "p", person=person)
    actor = tokens.authenticate(secret)
    assert actor.kind == "person" and actor.person_id == person.id and actor.token_id
    _, secret = tokens.create_token(SYSTEM, "s", service=world.portal)
    actor = tokens.authenticate(secret)
    assert actor.kind == "service" and actor.service_id == world.portal.id


@pytest.mark.parametrize("secret", ["", "nonsense", "ca_deadbeef_not-a-real-secret", "Bearer ca_x"])
def test_authenticate_refuses_unknown(world, secret):
    with pytest.raises(tokens.Unauthenticated):
        tokens.authenticate(secret)


def test_last_used_is_written_at_most_once_a_minute(world, clock, django_assert_num_queries):
    token, secret = tokens.create_token(SYSTEM, "s", service=world.portal)
    tokens.authenticate(secret)
    first = ApiToken.objects.get(pk=token.pk).last_used_at
    assert first == clock.now()
    clock.advance(dt.timedelta(seconds=30))
    with django_assert_num_queries(1):  # the lookup only: no write inside the minute
        tokens.authenticate(secret)
    assert ApiToken.objects.get(pk=token.pk).last_used_at == first
    clock.advance(dt.timedelta(seconds=31))
    tokens.authenticate(secret)
    assert ApiToken.objects.get(pk=token.pk).last_used_at == clock.now()


def test_revoked_token_is_refused_with_a_problem(world):
    token, secret = tokens.create_token(SYSTEM, "s", service=world.portal)
    client = ApiClient(secret)
    assert client.get("/people").status_code == 200
    before = ledger_size()
    tokens.revoke_token(SYSTEM, token.prefix, reason="leaked")
    assert ledger_size() == before + 1
    response = client.get("/people")
    assert response.status_code == 401
    assert response["Content-Type"] == "application/problem+json"
    body = response.json()
    assert body["status"] == 401 and "revoked" in body["detail"]
    assert response["WWW-Authenticate"].startswith("Bearer")


def test_no_or_malformed_authorization_is_401(world):
    for client in (ApiClient(), ApiClient(raw_authorization="Basic dXNlcjpwYXNz"), ApiClient("ca_unknown_secret")):
        response = client.get("/organisations")
        assert response.status_code == 401, response.content
        body = response.json()
        assert body["title"] == "Unauthorized" and body["type"].startswith("urn:careaccess:problem:")
        assert "Bearer" in body["detail"] or "token" in body["detail"]


def test_suspended_persons_token_stops_working(world):
    person = build.person("Soon", "Suspended")
    client = client_for(person=person)
    from careaccess.directory import services

    assert client.get("/organisations").status_code == 403  # a person, but no staff position
    services.update_person(SYSTEM, person, status="suspended")
    assert client.get("/organisations").status_code == 401


def test_cli_create_list_revoke(world):
    person = build.person("Cli", "User")
    out, err = io.StringIO(), io.StringIO()
    call_command("token", "create", "--person", person.uid, "--name", "cli test", stdout=out, stderr=err)
    secret = out.getvalue().strip()
    assert secret.startswith("ca_") and "shown once" in err.getvalue()
    actor = tokens.authenticate(secret)
    assert actor.person_id == person.id
    prefix = secret.split("_")[1]
    out = io.StringIO()
    call_command("token", "list", stdout=out)
    assert prefix in out.getvalue() and secret not in out.getvalue() and person.uid in out.getvalue()
    call_command("token", "revoke", prefix, stdout=io.StringIO())
    with pytest.raises(tokens.Unauthenticated):
        tokens.authenticate(secret)
    out = io.StringIO()
    call_command("token", "list", stdout=out)
    assert prefix not in out.getvalue()
    with pytest.raises(CommandError):
        call_command("token", "revoke", prefix, stdout=io.StringIO())
    with pytest.raises(CommandError):
        call_command("token", "create", "--service", "no-such-service", stdout=io.StringIO())
    out = io.StringIO()
    call_command("token", "create", "--service", "care-portal", stdout=out, stderr=io.StringIO())
    assert tokens.authenticate(out.getvalue().strip()).kind == "service"
