"""SCIM endpoints through Django's test client: filters, paging, ETags, PATCH, Bulk, scopes, rules."""

from __future__ import annotations

import json

import pytest

from careaccess.core.audit.models import Head
from careaccess.directory import services, testing
from careaccess.directory.models import Assignment, Person, Position
from careaccess.interop.models import ReadLog
from careaccess.interop.scim import schema

from .conftest import auth, token_for

pytestmark = pytest.mark.django_db

SCIM = "application/scim+json"
PATCH_OP = "urn:ietf:params:scim:api:messages:2.0:PatchOp"


def call(client, method, path, secret, body=None, **headers):
    kwargs = {**auth(secret), **headers}
    if body is not None:
        kwargs["data"] = json.dumps(body)
        kwargs["content_type"] = SCIM
    return getattr(client, method)(f"/scim/v2{path}", **kwargs)


def new_user(user_name="jdoe", given="Jane", family="Doe", **extra):
    return {"schemas": [schema.USER], "userName": user_name, "name": {"givenName": given, "familyName": family},
            "emails": [{"value": f"{given}.{family}@example.nhs.uk".lower()}], **extra}


def ledger_size():
    return Head.objects.size()


def scim_error(response, status, scim_type=None):
    assert response.status_code == status, response.content
    assert response["Content-Type"] == SCIM
    body = response.json()
    assert body["schemas"] == [schema.ERROR] and body["status"] == str(status)
    if scim_type:
        assert body["scimType"] == scim_type
    return body


def test_create_read_and_filter_users(client, world):
    created = call(client, "post", "/Users", world.manager_token, new_user())
    assert created.status_code == 201, created.content
    user = created.json()
    assert created["Location"] == user["meta"]["location"] and created["ETag"] == user["meta"]["version"]
    assert user["userName"] == "jdoe" and user["active"] is True
    assert Person.objects.filter(uid=user["id"], given_name="Jane").exists()

    def ids(filter_text, **params):
        response = call(client, "get", "/Users", world.manager_token, None) if filter_text is None else \
            client.get("/scim/v2/Users", {"filter": filter_text, **params}, **auth(world.manager_token))
        assert response.status_code == 200, response.content
        return [r["id"] for r in response.json()["Resources"]]

    assert ids('userName eq "JDOE"') == [user["id"]]  # userName is case-insensitive
    assert ids(f'userName eq "{world.holder.uid}"') == [world.holder.uid]  # no SCIM userName: the uid
    assert ids('name.familyName sw "do" and active eq true') == sorted([user["id"], world.holder.uid])
    assert ids('emails.value ew "@example.nhs.uk" and not (name.givenName eq "Gina")').count(world.holder.uid) == 0
    assert ids(f'groups.value eq "{world.position.id}"') == [world.holder.uid]
    assert ids('userName pr and (name.givenName co "an" or name.givenName co "in")') == sorted([user["id"], world.holder.uid])
    assert ids(f'urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:employeeNumber eq "{user["id"]}"') == [user["id"]]
    assert ids('meta.created ge "2000-01-01T00:00:00Z"', count="1", startIndex="2") != []

    holder = call(client, "get", f"/Users/{world.holder.uid}", world.manager_token).json()
    assert holder["groups"][0]["value"] == str(world.position.id)
    assert holder["roles"][0]["value"] == "S8000:G8000:R8000"
    assert holder[schema.ENTERPRISE]["organization"] == "B86001"
    assert ReadLog.objects.filter(person_uids__contains=world.holder.uid).exists()


def test_sorting_and_pagination(client, world):
    for n, family in enumerate(["Cole", "Abbot", "Bell"]):
        assert call(client, "post", "/Users", world.manager_token, new_user(f"u{n}", "Sam", family)).status_code == 201
    response = client.get("/scim/v2/Users", {"filter": 'name.givenName eq "Sam"', "sortBy": "name.familyName",
                                             "sortOrder": "descending", "startIndex": "2", "count": "1"},
                          **auth(world.manager_token))
    body = response.json()
    assert body["totalResults"] == 3 and body["startIndex"] == 2 and body["itemsPerPage"] == 1
    assert body["Resources"][0]["name"]["familyName"] == "Bell"
    scim_error(client.get("/scim/v2/Users", {"sortBy": "nickName"}, **auth(world.manager_token)), 400, "invalidValue")


@pytest.mark.parametrize("text", ['userName eq', 'nickName eq "x"', 'userName eq "a" or', 'active eq "yes"',
                                  'meta.created gt "not a date"', "(((", 'emails[value eq "x"'])
def test_malformed_or_unknown_filters_are_invalid_filter(client, world, text):
    response = client.get("/scim/v2/Users", {"filter": text}, **auth(world.manager_token))
    scim_error(response, 400, "invalidFilter")


def test_stale_etag_is_412_and_changes_nothing(client, world):
    user = call(client, "post", "/Users", world.manager_token, new_user()).json()
    stale = user["meta"]["version"]
    patch = {"schemas": [PATCH_OP], "Operations": [{"op": "replace", "path": "name.givenName", "value": "Janet"}]}
    first = call(client, "patch", f"/Users/{user['id']}", world.manager_token, patch, HTTP_IF_MATCH=stale)
    assert first.status_code == 200 and first.json()["name"]["givenName"] == "Janet"
    assert first["ETag"] != stale
    size = ledger_size()
    again = {"schemas": [PATCH_OP], "Operations": [{"op": "replace", "path": "name.givenName", "value": "Joan"}]}
    scim_error(call(client, "patch", f"/Users/{user['id']}", world.manager_token, again, HTTP_IF_MATCH=stale), 412)
    scim_error(call(client, "put", f"/Users/{user['id']}", world.manager_token, new_user(given="Joan"),
                    HTTP_IF_MATCH=stale), 412)
    scim_error(call(client, "delete", f"/Users/{user['id']}", world.manager_token, HTTP_IF_MATCH=stale), 412)
    assert Person.objects.get(uid=user["id"]).given_name == "Janet" and ledger_size() == size
    current = first["ETag"]
    not_modified = call(client, "get", f"/Users/{user['id']}", world.manager_token, HTTP_IF_NONE_MATCH=current)
    assert not_modified.status_code == 304


def test_patch_operations(client, world):
    user = call(client, "post", "/Users", world.manager_token, new_user()).json()
    ops = [
        {"op": "replace", "value": {"active": False, "externalId": "hr-1"}},
        {"op": "add", "path": "emails", "value": [{"value": "jane.d@example.nhs.uk"}]},
        {"op": "remove", "path": 'emails[value eq "jane.doe@example.nhs.uk"]'},
        {"op": "replace", "path": "urn:ietf:params:scim:schemas:core:2.0:User:userName", "value": "jane.doe"},
    ]
    response = call(client, "patch", f"/Users/{user['id']}", world.manager_token, {"schemas": [PATCH_OP], "Operations": ops})
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["active"] is False and body["externalId"] == "hr-1" and body["userName"] == "jane.doe"
    assert body["emails"] == [{"value": "jane.d@example.nhs.uk"}]
    person = Person.objects.get(uid=user["id"])
    assert person.status == "suspended" and person.email == "jane.d@example.nhs.uk"
    # a PUT that leaves `active` out keeps the person suspended
    put = call(client, "put", f"/Users/{user['id']}", world.manager_token, new_user("jane.doe"))
    assert put.status_code == 200 and put.json()["active"] is False
    for ops, scim_type in [
        ([{"op": "replace", "path": "groups", "value": []}], "mutability"),
        ([{"op": "replace", "path": "nickName", "value": "x"}], "invalidPath"),
        ([{"op": "remove"}], "noTarget"),
        ([{"op": "remove", "path": 'emails[value eq "nobody@example.nhs.uk"]'}], "noTarget"),
        ([{"op": "move", "path": "userName", "value": "x"}], "invalidSyntax"),
        ([{"op": "replace", "path": "emails[value eq", "value": "x"}], "invalidPath"),
        ([{"op": "replace", "path": "name.givenName", "value": ""}], "invalidValue"),
    ]:
        scim_error(call(client, "patch", f"/Users/{user['id']}", world.manager_token,
                        {"schemas": [PATCH_OP], "Operations": ops}), 400, scim_type)


def test_group_membership_creates_and_ends_assignments(client, world):
    user = call(client, "post", "/Users", world.manager_token, new_user()).json()
    group = call(client, "post", "/Groups", world.manager_token, {
        "schemas": [schema.GROUP, schema.POSITION], "displayName": "Practice nurse",
        schema.POSITION: {"organisationCode": "B86001"}, "members": [{"value": user["id"], "type": "User"}]})
    assert group.status_code == 201, group.content
    group = group.json()
    position = Position.objects.get(pk=int(group["id"]))
    assert position.organisation.code == "B86001"
    assert Assignment.objects.filter(position=position, person__uid=user["id"], state="active").exists()
    remove = {"schemas": [PATCH_OP], "Operations": [{"op": "remove", "path": f'members[value eq "{user["id"]}"]'}]}
    response = call(client, "patch", f"/Groups/{group['id']}", world.manager_token, remove)
    assert response.status_code == 200 and "members" not in response.json()
    assert Assignment.objects.get(position=position, person__uid=user["id"]).state == "ended"
    add = {"schemas": [PATCH_OP], "Operations": [{"op": "add", "path": "members", "value": [{"value": user["id"]}]}]}
    assert call(client, "patch", f"/Groups/{group['id']}", world.manager_token, add).json()["members"][0]["value"] == user["id"]
    filtered = client.get("/scim/v2/Groups", {"filter": f'members[value eq "{user["id"]}"]'}, **auth(world.manager_token))
    assert [g["id"] for g in filtered.json()["Resources"]] == [group["id"]]


def test_a_group_without_an_organisation_code_belongs_to_the_acting_position(client, world):
    """permissions.authorise names the position that allows creating positions: its organisation
    is the new position's. Someone no position allows is refused as create_position refuses them."""
    agent = testing.staff(world.practice, "ra_agent", given_name="Rita", family_name="Agent")
    agent_token = token_for(person=Person.objects.get(pk=agent.person_id))
    for secret, organisation in ((world.manager_token, world.icb), (agent_token, world.practice)):
        response = call(client, "post", "/Groups", secret, {"schemas": [schema.GROUP], "displayName": "Receptionist"})
        assert response.status_code == 201, response.content
        assert response.json()[schema.POSITION]["organisationCode"] == organisation.code
    auditor = testing.staff(world.practice, "auditor", given_name="Aud", family_name="Itor")
    auditor_token = token_for(person=Person.objects.get(pk=auditor.person_id))
    positions = Position.objects.count()
    body = scim_error(call(client, "post", "/Groups", auditor_token, {"schemas": [schema.GROUP], "displayName": "X"}), 403)
    assert "position create" in body["detail"] and Position.objects.count() == positions


def test_writes_that_break_rules_are_refused_and_change_nothing(client, world):
    # A sponsor at the practice may not create positions nor place people in positions that are not
    # assignable by sponsors (SC5, SC8); an RA manager cannot place anyone in a closed organisation.
    sponsor = testing.staff(world.practice, "sponsor", given_name="Sid", family_name="Sponsor")
    sponsor_token = token_for(person=Person.objects.get(pk=sponsor.person_id))
    size, people, assignments = ledger_size(), Person.objects.count(), Assignment.objects.count()
    scim_error(call(client, "post", "/Users", sponsor_token, new_user()), 403)
    scim_error(call(client, "post", "/Groups", sponsor_token, {"schemas": [schema.GROUP], "displayName": "X",
                                                               schema.POSITION: {"organisationCode": "B86001"}}), 403)
    add = {"schemas": [PATCH_OP], "Operations": [{"op": "add", "path": "members", "value": [{"value": world.manager.uid}]}]}
    scim_error(call(client, "patch", f"/Groups/{world.position.id}", sponsor_token, add), 403)
    # the manager at the ICB does not oversee Y99999 (not a descendant): creating a position there is refused
    scim_error(call(client, "post", "/Groups", world.manager_token, {
        "schemas": [schema.GROUP], "displayName": "Carer", schema.POSITION: {"organisationCode": "Y99999"}}), 403)
    # a group with a member that does not exist is refused whole: no position is left behind
    scim_error(call(client, "post", "/Groups", world.manager_token, {
        "schemas": [schema.GROUP], "displayName": "Ghosts", "members": [{"value": "999999999999"}]}), 400, "invalidValue")
    # bad values, unknown attributes, wrong schemas
    scim_error(call(client, "post", "/Users", world.manager_token, new_user(emails=[{"value": "not-an-email"}])), 400, "invalidValue")
    scim_error(call(client, "post", "/Users", world.manager_token, new_user(nickName="JJ")), 400, "invalidValue")
    scim_error(call(client, "post", "/Users", world.manager_token, {**new_user(), "schemas": [schema.GROUP]}), 400, "invalidSyntax")
    scim_error(call(client, "post", "/Users", world.manager_token, new_user(user_name=world.holder.uid)), 400, "invalidValue")
    assert (ledger_size(), Person.objects.count(), Assignment.objects.count()) == (size, people, assignments)
    assert not Position.objects.filter(name__in=["X", "Carer", "Ghosts"]).exists()
    # a taken userName is a uniqueness conflict
    assert call(client, "post", "/Users", world.manager_token, new_user()).status_code == 201
    scim_error(call(client, "post", "/Users", world.manager_token, new_user(user_name="JDoe", given="Other")), 409, "uniqueness")


def test_delete_marks_a_leaver_and_keeps_the_record(client, world):
    response = call(client, "delete", f"/Users/{world.holder.uid}", world.manager_token)
    assert response.status_code == 204
    person = Person.objects.get(pk=world.holder.pk)  # rule PP8: never deleted
    assert person.status == "left"
    assert not Assignment.objects.filter(person=person, state="active").exists()
    scim_error(call(client, "get", f"/Users/{world.holder.uid}", world.manager_token), 404)


def test_bulk_with_bulk_ids_and_errors(client, world):
    body = {"schemas": [schema.BULK_REQUEST], "Operations": [
        {"method": "POST", "path": "/Users", "bulkId": "u1", "data": new_user("bulk1", "Bo", "Bulk")},
        {"method": "POST", "path": "/Groups", "bulkId": "g1", "data": {
            "schemas": [schema.GROUP], "displayName": "Bulk team", "members": [{"value": "bulkId:u1"}]}},
        {"method": "PATCH", "path": "/Users/bulkId:u1", "data": {
            "schemas": [PATCH_OP], "Operations": [{"op": "replace", "path": "active", "value": False}]}},
        {"method": "POST", "path": "/Users", "bulkId": "bad", "data": new_user("bulk2", "", "Nobody")},
        {"method": "DELETE", "path": "/Users/123456789012"},
    ]}
    response = call(client, "post", "/Bulk", world.manager_token, body)
    assert response.status_code == 200, response.content
    results = response.json()["Operations"]
    assert [r["status"] for r in results] == ["201", "201", "200", "400", "404"]
    assert results[3]["response"]["scimType"] == "invalidValue"
    uid = results[0]["location"].rsplit("/", 1)[1]
    assert Person.objects.get(uid=uid).status == "suspended"
    position = Position.objects.get(pk=int(results[1]["location"].rsplit("/", 1)[1]))
    assert Assignment.objects.filter(position=position, person__uid=uid).exists()
    # failOnErrors stops after the first failure
    stop = {"schemas": [schema.BULK_REQUEST], "failOnErrors": 1, "Operations": [
        {"method": "POST", "path": "/Users", "bulkId": "a", "data": new_user("x1", "", "Bad")},
        {"method": "POST", "path": "/Users", "bulkId": "b", "data": new_user("x2", "Good", "One")},
    ]}
    assert [r["status"] for r in call(client, "post", "/Bulk", world.manager_token, stop).json()["Operations"]] == ["400"]
    assert not Person.objects.filter(given_name="Good").exists()
    too_many = {"schemas": [schema.BULK_REQUEST], "Operations": [{"method": "DELETE", "path": "/Users/1"}] * 101}
    scim_error(call(client, "post", "/Bulk", world.manager_token, too_many), 413, "tooLarge")


def test_scopes_and_rights(client, world):
    # no token, an unknown token: 401
    assert client.get("/scim/v2/Users").status_code == 401
    scim_error(client.get("/scim/v2/Users", **auth("ca_nope_nope")), 401)
    # a token without scopes, or without the scope the call needs: 403
    bare = token_for(person=world.manager, scopes=())
    scim_error(call(client, "get", "/Users", bare), 403)
    fhir_only = token_for(person=world.manager, scopes=("fhir.read",))
    scim_error(call(client, "get", "/Users", fhir_only), 403)
    scim_error(call(client, "post", "/Users", world.reader_token, new_user()), 403)  # read-only scopes
    assert call(client, "get", "/Users", world.reader_token).status_code == 200
    # a relying service may read people but not positions, and may write nothing
    service = services.create_service(testing.SYSTEM, code="portal", name="Care portal")
    service_token = token_for(service=service)
    assert call(client, "get", "/Users", service_token).status_code == 200
    scim_error(call(client, "get", "/Groups", service_token), 403)
    scim_error(call(client, "post", "/Users", service_token, new_user()), 403)


def test_discovery_documents(client, world):
    spc = call(client, "get", "/ServiceProviderConfig", world.reader_token).json()
    assert spc["patch"]["supported"] and spc["bulk"]["maxOperations"] == schema.BULK_MAX_OPERATIONS
    types = call(client, "get", "/ResourceTypes", world.reader_token).json()
    assert {t["id"] for t in types["Resources"]} == {"User", "Group"}
    schemas_doc = call(client, "get", f"/Schemas/{schema.USER}", world.reader_token).json()
    assert schemas_doc["id"] == schema.USER
    scim_error(call(client, "get", "/Nothing", world.reader_token), 404)


def test_scopes_command(world, capsys):
    from django.core.management import call_command

    from careaccess.core import tokens as core_tokens
    from careaccess.interop.access import scopes_of

    token, _ = core_tokens.create_token(testing.SYSTEM, "cli", person=world.manager)
    call_command("interop", "scopes", token.prefix, "scim.read", "fhir.read")
    assert "fhir.read scim.read" in capsys.readouterr().out
    actor = core_tokens.authenticate(_)
    assert scopes_of(actor) == {"scim.read", "fhir.read"}
    call_command("interop", "scopes", token.prefix, "--show")
    assert capsys.readouterr().out.strip() == "fhir.read scim.read"
    from django.core.management.base import CommandError

    with pytest.raises(CommandError, match="unknown scopes"):
        call_command("interop", "scopes", token.prefix, "everything")
    call_command("interop", "scopes", token.prefix)
    assert scopes_of(actor) == set()


def test_search_across_resource_types(client, world):
    search = "urn:ietf:params:scim:api:messages:2.0:SearchRequest"
    body = {"schemas": [search], "filter": 'displayName eq "GP"', "attributes": ["displayName"]}
    response = call(client, "post", "/.search", world.manager_token, body)
    assert response.status_code == 200, response.content
    found = response.json()
    # displayName is derived on Users ("Gina Doctor") and the name of Groups: only the position matches
    assert found["totalResults"] == 1 and found["Resources"][0]["displayName"] == "GP"
    assert set(found["Resources"][0]) == {"schemas", "id", "displayName"}
    every = call(client, "post", "/.search", world.manager_token, {"schemas": [search], "count": 2, "startIndex": 2}).json()
    assert every["totalResults"] == Person.objects.count() + Position.objects.count() and every["itemsPerPage"] == 2
    scim_error(call(client, "post", "/.search", world.manager_token, {"schemas": [search], "filter": 'nickName eq "x"'}),
               400, "invalidFilter")
    scim_error(call(client, "post", "/.search", world.manager_token, {"filter": 'userName eq "x"'}), 400, "invalidSyntax")
    # a relying service may read Users only: it is shown no Groups, and a Groups-only filter fits nothing it may read
    service_token = token_for(service=services.create_service(testing.SYSTEM, code="portal", name="Care portal"))
    only_users = call(client, "post", "/.search", service_token, {"schemas": [search], "filter": "meta.created pr"}).json()
    assert only_users["totalResults"] == Person.objects.count()
    assert {r["schemas"][0] for r in only_users["Resources"]} == {schema.USER}
    scim_error(call(client, "post", "/.search", service_token, {"schemas": [search], "filter": 'displayName eq "GP"'}),
               400, "invalidFilter")
