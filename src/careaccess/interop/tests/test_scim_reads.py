"""SCIM reads built from rows (issue 8, speed): the same Users as scim2-models renders them, the
live positions of the SQL read the same as directory.selectors.live_assignment_filter, and a
userName lookup in a fixed, small number of queries with no COUNT."""

from __future__ import annotations

import datetime as dt

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from scim2_models import Context, Email, EnterpriseUser, GroupMembership, Meta, Name, PhoneNumber, Role, User

from careaccess.core import clock
from careaccess.directory import services, testing
from careaccess.directory.models import Assignment, Organisation, Person
from careaccess.directory.selectors import live_assignment_filter
from careaccess.interop.scim import schema
from careaccess.interop.scim.resources import _live_positions, etag_of

from .conftest import auth

pytestmark = pytest.mark.django_db

BASE = "http://testserver/scim/v2"


def reference(person: Person, user_name: str, external_id: str) -> dict:
    """The User as scim2-models serialises it, built from the directory's models (not from rows)."""
    live = list(Assignment.objects.filter(live_assignment_filter(clock.today()), person=person)
                .select_related("position__organisation", "position__unit").order_by("starts_on", "id"))
    groups, roles = {}, {}
    for assignment in live:
        position = assignment.position
        groups.setdefault(position.id, GroupMembership(value=str(position.id), ref=f"{BASE}/Groups/{position.id}",
                                                       display=f"{position.name} ({position.organisation.code})"))
        for role in position.job_roles.order_by("code"):
            roles.setdefault(role.code, Role(value=role.code, display=role.name))
    first = live[0].position if live else None
    user = User[EnterpriseUser](
        id=person.uid, external_id=external_id or None, user_name=user_name,
        name=Name(given_name=person.given_name, family_name=person.family_name),
        display_name=f"{person.given_name} {person.family_name}", active=person.status == Person.Status.ACTIVE,
        emails=[Email(value=person.email)] if person.email else None,
        phone_numbers=[PhoneNumber(value=person.phone)] if person.phone else None,
        groups=list(groups.values()) or None, roles=list(roles.values()) or None,
    )
    user[EnterpriseUser] = EnterpriseUser(employee_number=person.uid,
                                          organization=first.organisation.code if first else None,
                                          department=first.unit.name if first and first.unit_id else None)
    doc = user.model_dump(scim_ctx=Context.RESOURCE_QUERY_RESPONSE)
    doc["meta"] = Meta(resource_type="User", created=person.created_at, last_modified=person.updated_at,
                       location=f"{BASE}/Users/{person.uid}", version=etag_of(doc)).model_dump(
        scim_ctx=Context.RESOURCE_QUERY_RESPONSE)
    return doc


def rendered(client, world, user_name: str) -> dict:
    response = client.get("/scim/v2/Users", {"filter": f'userName eq "{user_name}"'}, **auth(world.manager_token))
    assert response.status_code == 200, response.content
    (doc,) = response.json()["Resources"]
    return doc


def test_users_read_as_scim2_models_renders_them(client, world):
    # positions in a unit, two job roles, a second position, an ended one: groups, roles, department
    services.create_unit(testing.SYSTEM, world.practice, code="U1", name="Surgery team")
    services.upsert_job_role(testing.SYSTEM, code="S8001:G8001:R8001", name="Admin role")
    second = services.create_position(testing.SYSTEM, world.practice, name="Admin", unit="U1",
                                      job_roles=["S8001:G8001:R8001", "S8000:G8000:R8000"])
    services.create_assignment(testing.SYSTEM, world.holder, second)
    ended = services.create_assignment(testing.SYSTEM, world.holder, services.create_position(
        testing.SYSTEM, world.other, name="Old", job_roles=["S8001:G8001:R8001"]))
    services.update_assignment(testing.SYSTEM, ended, state=Assignment.State.ENDED, reason="left")
    holder = Person.objects.get(pk=world.holder.pk)
    assert rendered(client, world, holder.uid) == reference(holder, holder.uid, "")

    # a SCIM-provisioned User: userName, externalId, no email or positions; then suspended
    created = client.post("/scim/v2/Users", content_type="application/scim+json", **auth(world.manager_token), data={
        "schemas": [schema.USER], "userName": "Jo.Smith", "externalId": "ext-7",
        "name": {"givenName": "Jo", "familyName": "Smith"}, "active": False})
    assert created.status_code == 201, created.content
    jo = Person.objects.get(uid=created.json()["id"])
    doc = rendered(client, world, "JO.SMITH")
    assert doc == reference(jo, "Jo.Smith", "ext-7") == created.json()
    assert doc["active"] is False and "groups" not in doc


def live_rows_by_orm(person_ids: list[int]) -> dict[int, list[tuple]]:
    rows = (Assignment.objects.filter(live_assignment_filter(clock.today()), person_id__in=person_ids)
            .order_by("starts_on", "id").select_related("position__organisation", "position__unit"))
    live: dict[int, list[tuple]] = {}
    for a in rows:
        p = a.position
        roles = [(r.code, r.name) for r in p.job_roles.order_by("code")] or [(None, None)]
        live.setdefault(a.person_id, []).extend(
            (p.id, p.name, p.organisation.code, p.unit_id, p.unit.name if p.unit_id else None, *role) for role in roles)
    return live


def test_live_positions_sql_is_the_live_assignment_rule(world):
    """The SQL read of live positions keeps directory.selectors.live_assignment_filter: not started,
    ended, suspended, retired positions, closed and closing organisations, people not active."""
    today = clock.today()
    people = [testing.person(given_name=f"P{i}", family_name="Case") for i in range(6)]
    closing = testing.organisation("C10001")
    closed = testing.organisation("C10002")
    positions = {org.code: services.create_position(testing.SYSTEM, org, name=f"At {org.code}",
                                                    job_roles=["S8000:G8000:R8000"])
                 for org in (world.practice, closing, closed)}
    for person in people:
        services.create_assignment(testing.SYSTEM, person, world.position)
        services.create_assignment(testing.SYSTEM, person, positions["C10001"])
        services.create_assignment(testing.SYSTEM, person, positions["C10002"])
    services.create_assignment(testing.SYSTEM, people[0], positions["B86001"], starts_on=today + dt.timedelta(days=3))
    services.create_assignment(testing.SYSTEM, people[1], positions["B86001"], starts_on=today - dt.timedelta(days=9),
                               ends_on=today)
    suspended = services.create_assignment(testing.SYSTEM, people[2], positions["B86001"])
    services.update_assignment(testing.SYSTEM, suspended, state=Assignment.State.SUSPENDED, reason="check")
    services.update_person(testing.SYSTEM, people[3], status=Person.Status.SUSPENDED)
    services.update_organisation(testing.SYSTEM, closing, status=Organisation.Status.CLOSING,
                                 closes_on=today + dt.timedelta(days=1))
    Organisation.objects.filter(pk=closed.pk).update(status=Organisation.Status.CLOSING, closes_on=today)
    ids = [p.id for p in people] + [world.holder.id]
    expected = live_rows_by_orm(ids)
    assert _live_positions(ids) == expected
    assert people[3].id not in expected and len(expected[people[1].id]) == 3  # ends today: still live
    assert _live_positions([]) == {}


def test_user_name_lookup_reads_no_count_and_few_queries(client, world):
    def lookup(**params):
        with CaptureQueriesContext(connection) as captured:
            response = client.get("/scim/v2/Users", {"filter": f'userName eq "{world.holder.uid}"', **params},
                                  **auth(world.reader_token))
        assert response.status_code == 200 and response.json()["totalResults"] == 1, response.content
        return [q["sql"] for q in captured.captured_queries]

    lookup()  # the token's first use of the day is recorded once
    for params in ({}, {"count": "1"}):
        sql = lookup(**params)
        assert not any("COUNT(" in q.upper() for q in sql), sql
        assert sum("directory_person" in q and "interop_scimuser" in q for q in sql) == 1  # one person query
        assert len(sql) <= 8, sql


@pytest.mark.parametrize("negated", [False, True])
def test_user_name_filters_match_provisioned_and_other_people(client, world, negated):
    created = client.post("/scim/v2/Users", content_type="application/scim+json", **auth(world.manager_token), data={
        "schemas": [schema.USER], "userName": "Jo.Smith", "name": {"givenName": "Jo", "familyName": "Smith"}})
    jo = created.json()["id"]
    everyone = set(Person.objects.exclude(status=Person.Status.LEFT).values_list("uid", flat=True))

    def ids(text):
        text = f"not ({text})" if negated else text
        response = client.get("/scim/v2/Users", {"filter": text}, **auth(world.manager_token))
        assert response.status_code == 200, response.content
        found = {r["id"] for r in response.json()["Resources"]}
        return everyone - found if negated else found

    assert ids('userName eq "jo.smith"') == {jo}
    assert ids(f'userName eq "{world.holder.uid}"') == {world.holder.uid}
    assert ids(f'userName eq "{jo}"') == set()  # a provisioned person's uid is not their userName
    assert ids('userName eq "nobody"') == set()
    assert ids('userName sw "JO."') == {jo}
    assert ids(f'userName sw "{world.holder.uid[:11]}"') == {world.holder.uid}
    assert ids(f'userName eq "jo.smith" or userName eq "{world.holder.uid}"') == {jo, world.holder.uid}
