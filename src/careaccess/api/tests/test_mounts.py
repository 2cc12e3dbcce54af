"""Every capability's API is mounted under /api/v1/ and documented in one OpenAPI document."""

import pytest
from django.test import Client


@pytest.mark.django_db
def test_every_router_is_mounted_and_documented():
    schema = Client().get("/api/v1/openapi.json").json()
    prefixes = {path.split("/")[3] for path in schema["paths"]}
    for expected in ("people", "organisations", "decisions", "audit", "requests", "identity", "cards", "mailboxes"):
        assert expected in prefixes, f"/api/v1/{expected} is not mounted"
    operation_ids = [op["operationId"] for path in schema["paths"].values() for op in path.values()]
    assert len(operation_ids) == len(set(operation_ids)), "two operations share an operationId"


@pytest.mark.django_db
def test_the_crl_has_a_stable_address(settings, tmp_path):
    settings.CAREACCESS_PKI_DIR = str(tmp_path / "pki")
    response = Client().get("/pki/crl.der")
    assert response.status_code == 503  # no CA yet: says so rather than serving nothing
