"""Test helpers for the API: a JSON client with a bearer token, and a small directory made through
the real service functions (careaccess.directory.testing)."""

from __future__ import annotations

import json
from dataclasses import dataclass

import pytest
from django.test import Client

from careaccess.core import tokens
from careaccess.core.audit.models import Head
from careaccess.core.context import Actor
from careaccess.directory import testing as build
from careaccess.directory.models import Person

SYSTEM = Actor.system("test")
BASE = "/api/v1"


def ledger_size() -> int:
    return Head.objects.size()


_client: Client | None = None


def shared_client() -> Client:
    """One Django test client for all: building a client's handler (middleware) is slow."""
    global _client
    if _client is None:
        _client = Client()
    return _client


class ApiClient:
    """JSON in, JSON out, with `Authorization: Bearer <secret>` (or none)."""

    def __init__(self, secret: str | None = None, raw_authorization: str | None = None):
        self.headers = {}
        if secret is not None:
            self.headers["Authorization"] = f"Bearer {secret}"
        if raw_authorization is not None:
            self.headers["Authorization"] = raw_authorization
        self.client = shared_client()

    def get(self, path: str, **params):
        return self.client.get(BASE + path, params, headers=self.headers)

    def post(self, path: str, body=None, *, raw: str | None = None):
        data = raw if raw is not None else json.dumps(body if body is not None else {})
        return self.client.post(BASE + path, data=data, content_type="application/json", headers=self.headers)

    def patch(self, path: str, body):
        return self.client.patch(BASE + path, data=json.dumps(body), content_type="application/json",
                                 headers=self.headers)


def client_for(*, person: Person | None = None, service=None, actor: Actor | None = None) -> ApiClient:
    if actor is not None:
        person = Person.objects.get(pk=actor.person_id)
    _, secret = tokens.create_token(SYSTEM, "test token", person=person, service=service)
    return ApiClient(secret)


@dataclass
class World:
    """An ICB overseeing a GP practice and a pharmacy; staff at each; a care portal service."""

    icb: object
    practice: object
    pharmacy: object
    ra_manager: ApiClient
    ra_manager_actor: Actor
    ra_agent: ApiClient
    sponsor: ApiClient  # sponsor at the practice
    sponsor_actor: Actor
    clerk: ApiClient  # a person with a position but no staff activity
    portal: object
    portal_client: ApiClient


@pytest.fixture
def world(db, clock) -> World:
    build.staff_catalogue()
    icb = build.organisation("QWE", kind="icb", oversees_descendants=True)
    practice = build.organisation("Y01234", parent="QWE")
    pharmacy = build.organisation("FA123", parent="QWE", kind="pharmacy")
    ra_manager = build.staff(icb, "ra_manager", name="Morgan")
    ra_agent = build.staff(icb, "ra_agent", name="Riley")
    sponsor = build.staff(practice, "sponsor", name="Sam")
    clerk = build.staff(practice, name="Clerk")
    from careaccess.directory import services

    portal = services.create_service(SYSTEM, code="care-portal", name="Care Portal", roles=[
        {"code": "care-professional", "name": "Care Professional"},
        {"code": "administrator", "name": "Administrator"},
    ])
    return World(
        icb=icb, practice=practice, pharmacy=pharmacy,
        ra_manager=client_for(actor=ra_manager), ra_manager_actor=ra_manager,
        ra_agent=client_for(actor=ra_agent),
        sponsor=client_for(actor=sponsor), sponsor_actor=sponsor,
        clerk=client_for(actor=clerk),
        portal=portal, portal_client=client_for(service=portal),
    )
