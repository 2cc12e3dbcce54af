"""A small directory for the interop tests, made through the real service functions, and tokens
with scopes."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from careaccess.core import tokens
from careaccess.directory import services, testing
from careaccess.directory.models import Organisation, Person, Position
from careaccess.interop import access


def token_for(*, person=None, service=None, scopes=("scim.read", "scim.write", "fhir.read")) -> str:
    token, secret = tokens.create_token(testing.SYSTEM, "interop test client", person=person, service=service)
    if scopes:
        access.set_scopes(testing.SYSTEM, token.prefix, list(scopes))
    return secret


@dataclass
class World:
    icb: Organisation
    practice: Organisation
    other: Organisation
    manager: Person
    manager_token: str
    reader_token: str
    position: Position
    holder: Person


def make_world() -> World:
    testing.staff_catalogue()
    icb = testing.organisation("QWO", kind="icb", oversees_descendants=True)
    practice = testing.organisation("B86001", parent="QWO")
    other = testing.organisation("Y99999", kind="care_home")
    manager_actor = testing.staff(icb, "ra_manager", given_name="Mara", family_name="Manager")
    manager = Person.objects.get(pk=manager_actor.person_id)
    services.upsert_job_role(testing.SYSTEM, code="S8000:G8000:R8000", name="Clinical Practitioner Access Role")
    position = services.create_position(testing.SYSTEM, practice, name="GP", job_roles=["S8000:G8000:R8000"],
                                        activities=["B0825"])
    holder = testing.person(given_name="Gina", family_name="Doctor")
    services.create_assignment(testing.SYSTEM, holder, position)
    reader_actor = testing.staff(practice, "auditor", given_name="Ada", family_name="Auditor")
    reader = Person.objects.get(pk=reader_actor.person_id)
    return World(icb, practice, other, manager, token_for(person=manager), token_for(person=reader, scopes=("scim.read", "fhir.read")),
                 position, holder)


@pytest.fixture
def world(db):
    return make_world()


def auth(secret: str) -> dict:
    return {"HTTP_AUTHORIZATION": f"Bearer {secret}"}
