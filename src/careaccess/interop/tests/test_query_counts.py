"""A SCIM userName lookup and an OIDC userinfo call make a fixed number of queries, however many
live assignments (positions, job roles, activities) the person holds (issue 8, speed)."""

from __future__ import annotations

import datetime as dt

from django.db import connection
from django.test.utils import CaptureQueriesContext

from careaccess.core.tokens import hash_secret
from careaccess.core import clock
from careaccess.directory import services, testing
from careaccess.interop.oidc import services as oidc_services
from careaccess.interop.oidc.models import OidcToken

from .conftest import auth


def queries(call) -> int:
    with CaptureQueriesContext(connection) as captured:
        response = call()
    assert response.status_code == 200, response.content
    return len(captured.captured_queries)


def give_more_positions(world, n: int) -> None:
    for i in range(n):
        position = services.create_position(testing.SYSTEM, world.other, name=f"Extra {i}",
                                            job_roles=["S8000:G8000:R8000"], activities=["B0820", "B0825"])
        services.create_assignment(testing.SYSTEM, world.holder, position)


def test_scim_user_name_lookup_is_a_fixed_number_of_queries(client, world):
    def lookup():
        return client.get("/scim/v2/Users", {"filter": f'userName eq "{world.holder.uid}"'}, **auth(world.reader_token))

    lookup()  # the token's first use of the day is recorded once: not part of every lookup
    before = queries(lookup)
    give_more_positions(world, 3)
    response = lookup()
    assert len(response.json()["Resources"][0]["groups"]) == 4
    assert queries(lookup) == before


def test_userinfo_is_a_fixed_number_of_queries(client, world, settings, tmp_path):
    settings.CAREACCESS_OIDC_KEY_DIR = tmp_path / "oidc"
    rp, _ = oidc_services.add_client(testing.SYSTEM, name="Portal", redirect_uris=["https://rp.example/cb"],
                                     auth_method="client_secret_basic")
    OidcToken.objects.create(client=rp, person=world.holder, access_digest=hash_secret("access"), scope=" ".join(
        ["openid", "profile", "email", "associatedorgs", "nationalrbacaccess", "selectedrole"]),
        issued_at=clock.now(), expires_at=clock.now() + dt.timedelta(minutes=10), auth_time=0,
        acr="urn:careaccess:aal1", amr="pwd")

    def userinfo():
        return client.get("/oidc/userinfo", secure=True, HTTP_AUTHORIZATION="Bearer access")

    before = queries(userinfo)
    give_more_positions(world, 3)
    roles = userinfo().json()["nhsid_nrbac_roles"]
    assert len(roles) == 4 and all(r["activity_codes"] for r in roles)
    assert queries(userinfo) == before <= 3
