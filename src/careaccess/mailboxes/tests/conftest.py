"""A small world for mailbox tests, made through the real service functions.

Two ICBs sponsor care homes: QWO (short name "qwoicb") and QXX. Each has a local administrator
(NM6) and a sponsor (DS4, for deletion requests). The directory knows one care home, Rose Lodge,
with CQC number 1-123456789 (NM3). The nhsmail service holds the mailbox accounts.
"""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from careaccess.core.context import Actor
from careaccess.directory import services as directory
from careaccess.directory import testing
from careaccess.directory.models import Organisation, Service

PDF = b"%PDF-1.4\n1 0 obj <<>> endobj\ntrailer <<>>\n%%EOF\n"


@dataclass
class World:
    icb: Organisation
    other_icb: Organisation
    home: Organisation
    admin: Actor
    other_admin: Actor
    sponsor: Actor
    service: Service


def application_data(**overrides) -> dict:
    data = {
        "sponsor": "QWO",
        "applicant_name": "Pat Manager", "applicant_role": "Registered manager",
        "applicant_email": "pat.manager@roselodge.example",
        "home_name": "Rose Lodge", "home_address": "1 Garden Row\nHeadingley", "home_town": "Leeds",
        "home_postcode": "LS6 3AA", "home_phone": "0113 496 0000", "cqc_number": "1-123456789",
        "ig_toolkit_completed": "yes", "existing_accounts": "none", "exchanges_data": "yes",
        "exchange_reason": "Discharge summaries from the hospital",
        "individuals": [
            {"title": "Mrs", "first_name": "Zoë", "last_name": "O'Brien", "mobile": "07700 900001"},
            {"title": "Mr", "first_name": "Jo", "last_name": "Bloggs", "mobile": "07700 900002"},
        ],
        "shared_wanted": "yes", "shared_name": "Rose Lodge referrals", "shared_owner": "Pat Manager",
        "shared_owner_mobile": "07700 900003", "group_name": "", "head_office": "", "benefits": "Safer transfers of care",
    }
    data.update(overrides)
    return data


@pytest.fixture
def world(db, settings, tmp_path) -> World:
    return make_world(settings, tmp_path)


def make_world(settings, tmp_path) -> World:
    settings.CAREACCESS_MAILBOX_DOMAIN = "mail.example.org"
    settings.CAREACCESS_MAILBOX_UPLOAD_DIR = str(tmp_path / "uploads")
    settings.CAREACCESS_MAILBOX_REPORT_MAX_BYTES = 10_000
    testing.staff_catalogue()
    icb = testing.organisation("QWO", kind="icb", short_name="QWO ICB")
    other = testing.organisation("QXX", kind="icb", short_name="QXX")
    home = testing.organisation("VN123", kind="care_home", parent="QWO", cqc_number="1-123456789")
    service = directory.create_service(testing.SYSTEM, code="nhsmail", name="NHSmail", allowed_purposes=["direct care"],
                                       approver_kind="sponsor",
                                       roles=[{"code": "mailbox-user", "name": "Mailbox user"}])
    return World(icb=icb, other_icb=other, home=home,
                 admin=testing.staff(icb, "local_administrator", given_name="Lee", family_name="Admin"),
                 other_admin=testing.staff(other, "local_administrator", given_name="Oli", family_name="Other"),
                 sponsor=testing.staff(icb, "sponsor", given_name="Sam", family_name="Sponsor"),
                 service=service)
