"""A small world for lifecycle tests, made through the real service functions.

QWO, an ICB overseeing its descendants, holds the RA (an RA manager, a trained back office). Under
it: a GP practice (sponsor) and a care provider (lead correspondent). The provider portal service
(inactivity 60 days, review every 3 months) has a role carried by a Carer position at each site.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import pytest

from careaccess.core.audit.models import Head
from careaccess.core.context import Actor
from careaccess.core.outbox.models import Message
from careaccess.directory import services as directory
from careaccess.directory import testing
from careaccess.directory.models import Account, Organisation, Person, Position, Service

SYSTEM = testing.SYSTEM


def ledger_size() -> int:
    return Head.objects.size()


def person_of(actor: Actor) -> Person:
    return Person.objects.get(pk=actor.person_id)


def messages(**filters) -> list[Message]:
    return list(Message.objects.filter(**filters).order_by("created_at", "subject"))


def messages_to(email: str) -> list[Message]:
    return [m for m in Message.objects.order_by("created_at", "subject") if email in m.to]


@dataclass
class World:
    icb: Organisation
    gp: Organisation
    provider: Organisation
    service: Service
    gp_carer: Position
    provider_carer: Position
    ra_manager: Actor
    back_office: Actor
    sponsor: Actor
    lead: Actor
    counter: int = 0

    def user(self, where: Organisation | None = None, *, ends_on=None, given_name="Uma", family_name=None,
             account: bool = True, last_used_at=None) -> tuple[Person, Account | None]:
        """A person in the site's Carer position, with an active account on the service."""
        self.counter += 1
        person = testing.person(given_name=given_name, family_name=family_name or f"User{chr(96 + self.counter)}")
        where = where or self.provider
        position = self.gp_carer if where == self.gp else self.provider_carer
        directory.create_assignment(SYSTEM, person, position, ends_on=ends_on)
        acct = None
        if account:
            acct = directory.create_account(SYSTEM, person, self.service, username=f"user{person.uid}",
                                            state=Account.State.ACTIVE)
            if last_used_at is not None:
                Account.objects.filter(pk=acct.pk).update(last_used_at=last_used_at)
                acct.refresh_from_db()
        return person, acct


@pytest.fixture
def world(db, clock) -> World:
    from careaccess.access_requests import services as requests

    testing.staff_catalogue()
    service = directory.create_service(
        SYSTEM, code="provider-portal", name="Provider Portal", approver_kind="lead_correspondent",
        roles=[{"code": "carer", "name": "Carer"}])
    icb = testing.organisation("QWO", kind="icb", oversees_descendants=True)
    gp = testing.organisation("B86001", parent="QWO")
    provider = testing.organisation("VN123", parent="QWO", kind="care_provider")
    ra_manager = testing.staff(icb, "ra_manager", given_name="Manny", family_name="Manager")
    back_office = testing.staff(icb, "local_administrator", "ra_agent", given_name="Bo", family_name="Backoffice")
    requests.record_training(SYSTEM, person_of(back_office), completed_on=dt.date(2026, 1, 10))
    sponsor = testing.staff(gp, "sponsor", given_name="Sam", family_name="Sponsor")
    lead = testing.staff(provider, "lead_correspondent", given_name="Lee", family_name="Lead")
    gp_carer = testing.position(gp, "Carer", service_roles=["provider-portal:carer"])
    provider_carer = testing.position(provider, "Carer", service_roles=["provider-portal:carer"])
    return World(icb, gp, provider, service, gp_carer, provider_carer, ra_manager, back_office, sponsor, lead)
