"""A small world for request tests, made through the real service functions.

QWO, an ICB overseeing its descendants, holds the back office (trained local administrator and
RA agent) and the RA. Under it: a GP practice (no desk: its sponsors are its authorisers, CC1),
a trust with an IT service desk (CC6) and a care provider (lead correspondent, PP3).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

import pytest

from careaccess.core.audit.models import Head
from careaccess.core.context import Actor
from careaccess.core.outbox.models import Message
from careaccess.directory import services as directory
from careaccess.directory import testing
from careaccess.directory.models import Organisation, Person, Position, Service

from careaccess.access_requests import services
from careaccess.access_requests.models import AccessRequest


def ledger_size() -> int:
    return Head.objects.size()


def person_of(actor: Actor) -> Person:
    return Person.objects.get(pk=actor.person_id)


@dataclass
class Site:
    organisation: Organisation
    requester: Actor  # raises requests
    validator: Actor  # the desk, or an authoriser
    approver: Actor  # an authoriser (a sponsor at a GP practice)
    clinician: Position  # carries connecting-care:care-professional
    admin: Position  # carries connecting-care:administrator
    extra: dict = field(default_factory=dict)


@dataclass
class World:
    icb: Organisation
    service: Service
    fulfiller: Actor  # back office: local administrator + RA agent, trained (PP5)
    ra_agent: Actor  # checks identity (DS5)
    gp: Site
    trust: Site
    provider: Site
    counter: int = 0

    def site(self, route: str) -> Site:
        return {"authoriser": self.gp, "desk": self.trust}[route]

    def new_user_details(self, site: Site, **overrides) -> dict:
        self.counter += 1
        n = self.counter
        details = {
            "title": "Dr", "given_name": "Jane", "family_name": f"Smith{chr(96 + n)}", "date_of_birth": "1985-04-02",
            "ni_number": f"JC{n:06d}A", "email": f"jane.smith{n}@example.nhs.uk", "phone": "0113 496 0000",
            "position": site.clinician.pk, "service_role": "care-professional",
        }
        details.update(overrides)
        return details


CONFIRMED = services.Confirmations(least_role=True, told_not_to_view_own_records=True,
                                   ig_training_on=dt.date(2026, 3, 1))


def walk(world: World, site: Site, req: AccessRequest, *, until: str = "fulfilled") -> AccessRequest:
    """Take a raised request through submit -> validate -> approve -> fulfil."""
    if req.state == "draft":
        req = services.submit(site.requester, req, version=req.version)
    if until == "submitted":
        return req
    ticket = "TD-1001" if site.organisation.has_service_desk else ""
    req = services.validate(site.validator, req, version=req.version, ticket_reference=ticket)
    if until == "validated":
        return req
    req = services.approve(site.approver, req, version=req.version, confirmations=CONFIRMED)
    if until == "approved":
        return req
    return services.fulfil(world.fulfiller, req, version=req.version)


def outbox(reference: str | None = None):
    messages = Message.objects.order_by("created_at", "subject")
    return list(messages.filter(cause=f"request:{reference}") if reference else messages)


@pytest.fixture
def world(clock) -> World:
    testing.staff_catalogue()
    service = directory.create_service(
        testing.SYSTEM, code="connecting-care", name="Connecting Care", allowed_purposes=["direct care"],
        approver_kind="authoriser", sla_days=5,
        roles=[{"code": "care-professional", "name": "Care Professional"},
               {"code": "administrator", "name": "Administrator"}],
    )
    icb = testing.organisation("QWO", kind="icb", oversees_descendants=True)
    fulfiller = testing.staff(icb, "local_administrator", "ra_agent", given_name="Bo", family_name="Backoffice")
    services.record_training(testing.SYSTEM, person_of(fulfiller), completed_on=dt.date(2026, 1, 10))
    ra_agent = testing.staff(icb, "ra_agent", given_name="Rita", family_name="Agent")

    def site(code, kind, *, desk=False, requester_caps=("sponsor",), validator_caps=("authoriser",)):
        org = testing.organisation(code, parent="QWO", kind=kind, has_service_desk=desk)
        clinician = testing.position(org, "Clinician", service_roles=["connecting-care:care-professional"])
        admin = testing.position(org, "Receptionist", service_roles=["connecting-care:administrator"])
        requester = testing.staff(org, *requester_caps, given_name=f"Req{code}", family_name="Uester")
        validator = testing.staff(org, *validator_caps, given_name=f"Val{code}", family_name="Idator")
        approver = testing.staff(org, "authoriser", given_name=f"App{code}", family_name="Rover")
        return Site(org, requester, validator, approver, clinician, admin)

    gp = site("B86001", "gp_practice", validator_caps=("sponsor",))  # CC1: a GP sponsor authorises
    trust = site("RR8", "trust", desk=True, validator_caps=("service_desk",))
    provider = site("CP001", "care_provider", requester_caps=("lead_correspondent",))
    return World(icb=icb, service=service, fulfiller=fulfiller, ra_agent=ra_agent, gp=gp, trust=trust,
                 provider=provider)
