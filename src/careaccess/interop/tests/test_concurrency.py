"""Two clients PATCH the same User with the same If-Match at once: one wins, the other gets 412
and changes nothing (PostgreSQL: the row lock makes the second wait, then see the new version)."""

from __future__ import annotations

import datetime as dt
import json
import threading

import pytest
from django.db import connection
from django.test import Client

from careaccess.directory.models import Person

from .conftest import make_world

PATCH_OP = "urn:ietf:params:scim:api:messages:2.0:PatchOp"


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_concurrent_patches_with_the_same_etag():
    world = make_world()
    headers = {"HTTP_AUTHORIZATION": f"Bearer {world.manager_token}"}
    uid = world.holder.uid
    etag = Client().get(f"/scim/v2/Users/{uid}", **headers)["ETag"]
    barrier = threading.Barrier(2)
    statuses: dict[str, int] = {}

    def patch(name: str) -> None:
        try:
            body = {"schemas": [PATCH_OP], "Operations": [{"op": "replace", "path": "name.givenName", "value": name}]}
            barrier.wait(timeout=10)
            response = Client().patch(f"/scim/v2/Users/{uid}", json.dumps(body), content_type="application/scim+json",
                                      HTTP_IF_MATCH=etag, **headers)
            statuses[name] = response.status_code
        finally:
            connection.close()

    threads = [threading.Thread(target=patch, args=(name,)) for name in ("Ann", "Bea")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert sorted(statuses.values()) == [200, 412], statuses
    winner = next(name for name, status in statuses.items() if status == 200)
    assert Person.objects.get(uid=uid).given_name == winner


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_concurrent_refreshes_with_the_same_refresh_token(settings, tmp_path):
    """Two requests spend one refresh token at once: one gets a new pair, the other invalid_grant,
    and only one successor token exists."""
    import base64

    from careaccess.core import clock
    from careaccess.directory import testing
    from careaccess.interop.oidc import services as oidc_services
    from careaccess.core.tokens import hash_secret
    from careaccess.interop.oidc.models import OidcToken

    settings.CAREACCESS_OIDC_KEY_DIR = tmp_path / "oidc"
    world = make_world()
    rp, secret = oidc_services.add_client(testing.SYSTEM, name="Portal", redirect_uris=["https://rp.example/cb"],
                                          auth_method="client_secret_basic")
    OidcToken.objects.create(client=rp, person=world.holder, access_digest=hash_secret("access"),
                             refresh_digest=hash_secret("refresh"), scope="openid", issued_at=clock.now(),
                             expires_at=clock.now() + dt.timedelta(minutes=10),
                             refresh_expires_at=clock.now() + dt.timedelta(hours=8), auth_time=0,
                             acr="urn:careaccess:aal1", amr="pwd")
    basic = "Basic " + base64.b64encode(f"{rp.client_id}:{secret}".encode()).decode()
    barrier = threading.Barrier(2)
    statuses: list[int] = []

    def refresh() -> None:
        try:
            barrier.wait(timeout=10)
            response = Client().post("/oidc/token", {"grant_type": "refresh_token", "refresh_token": "refresh"},
                                     secure=True, HTTP_AUTHORIZATION=basic)
            statuses.append(response.status_code)
        finally:
            connection.close()

    threads = [threading.Thread(target=refresh) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert sorted(statuses) == [200, 400], statuses
    assert OidcToken.objects.filter(client=rp).count() == 2  # the spent pair and one successor
