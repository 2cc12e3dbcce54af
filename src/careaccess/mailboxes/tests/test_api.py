"""The mailboxes API: public application, queue, decisions (NM1-NM6), directory (NM10), NM9, NM11."""

from __future__ import annotations

import base64

import pytest

from careaccess.api.testing import ApiClient, client_for
from careaccess.mailboxes.models import Application, Mailbox

from .conftest import PDF, application_data


@pytest.fixture(autouse=True)
def _urls(settings):
    settings.ROOT_URLCONF = "careaccess.mailboxes.tests.api_urls"


def body(**overrides):
    data = application_data(**overrides)
    data.update(ig_toolkit_completed=True, exchanges_data=True, shared_wanted=True,
                ig_report={"name": "r.pdf", "content_base64": base64.b64encode(PDF).decode()})
    return data


def test_application_to_provisioning_over_the_api(world):
    anonymous = ApiClient()
    created = anonymous.post("/mailboxes/applications", body())
    assert created.status_code == 201, created.content
    reference = created.json()["reference"]
    assert anonymous.post("/mailboxes/applications", body()).status_code == 409  # duplicate
    bad = anonymous.post("/mailboxes/applications", body(cqc_number="12345", ig_report=None))
    assert bad.status_code == 422 and Application.objects.count() == 1
    admin, other = client_for(actor=world.admin), client_for(actor=world.other_admin)
    assert [a["reference"] for a in admin.get("/mailboxes/applications").json()] == [reference]
    assert other.get("/mailboxes/applications").json() == []
    assert other.post(f"/mailboxes/applications/{reference}/reject", {"reasons": "x"}).status_code == 404
    assert admin.post(f"/mailboxes/applications/{reference}/assess", {"ig_toolkit_checked": True}).status_code == 200
    approved = admin.post(f"/mailboxes/applications/{reference}/approve", {"location": "Leeds"})
    assert approved.status_code == 200, approved.content
    assert approved.json()["shared_mailboxes"] == ["qwoicb.roselodgeleeds@mail.example.org"]
    member = admin.post("/mailboxes/shared/qwoicb.roselodgeleeds@mail.example.org/members",
                        {"member": "zoe.obrien@mail.example.org", "permission": "full_access"})
    assert member.status_code == 201
    found = admin.get("/mailboxes/directory", organisation="Rose Lodge").json()
    assert {e["address"] for e in found} == {m.address for m in Mailbox.objects.all()} | {
        "qwoicb.roselodgeleeds@mail.example.org"}
    assert admin.post("/mailboxes/accounts/jo.bloggs@mail.example.org/reset-password").status_code == 200
    assert other.post("/mailboxes/accounts/jo.bloggs@mail.example.org/reset-password").status_code == 403
    report = admin.post("/mailboxes/accounts/jo.bloggs@mail.example.org/report-unneeded", {"reason": "left"})
    assert report.status_code == 201 and report.json()["state"] == "submitted"
