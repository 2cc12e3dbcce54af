"""A known directory for the report and bulk tests, built through the directory's service functions
(accounts' last use, cards and overdue requests are set directly: the report reads them, it does
not make them). The ledger is never flushed between tests: compare its size, never assume it empty."""

from __future__ import annotations

import datetime as dt
from types import SimpleNamespace

import pytest
from django.contrib.auth import get_user_model

from careaccess.core.audit.models import Head
from careaccess.directory import services, testing
from careaccess.directory.models import Account, Person

PASSWORD = "correct horse battery staple"


def ledger_size() -> int:
    return Head.objects.size()


def sign_in(client, actor):
    person = Person.objects.get(pk=actor.person_id)
    user = get_user_model().objects.create_user(username=person.uid, password=PASSWORD)
    Person.objects.filter(pk=person.pk).update(user=user)
    client.force_login(user)
    return person


@pytest.fixture
def world(db, clock):
    w = SimpleNamespace()
    sys = testing.SYSTEM
    testing.staff_catalogue()
    w.ra = testing.organisation("RAA01", kind="registration_authority", oversees_descendants=True)
    w.gp = testing.organisation("GPA01", parent="RAA01")                       # nobody: flagged
    w.p1 = testing.organisation("PHA01", parent="RAA01", kind="pharmacy")      # one sponsor: fewer than two
    w.p2 = testing.organisation("PHA02", parent="RAA01", kind="pharmacy")      # sponsor + RA agent: fine
    w.p3 = testing.organisation("PHA03", parent="RAA01", kind="pharmacy")      # two RA agents, no sponsor
    w.other = testing.organisation("XXA01", kind="gp_practice")             # outside RA1's tree
    w.manager = testing.staff(w.ra, "ra_manager", name="Manon")
    w.auditor = testing.staff(w.ra, "auditor", name="Audrey")
    w.sponsor = testing.staff(w.p1, "sponsor", name="Sunil")
    testing.staff(w.p2, "sponsor", name="Sara")
    testing.staff(w.p2, "ra_agent", name="Rita")
    testing.staff(w.p3, "ra_agent", name="Ravi")
    testing.staff(w.p3, "ra_agent", name="Rosa")
    w.agent = testing.staff(w.ra, "ra_agent", name="Agnes")  # no report.read, no bulk.apply

    today = clock.today()
    w.reception = testing.position(w.gp, "Receptionist")
    w.doctor = testing.position(w.gp, "GP")
    w.ann = testing.person("Ann", "Abbott")
    w.bob = testing.person("Bob", "Brown")
    w.cat = testing.person("Cat", "Cole")
    w.dan = testing.person("Dan", "Dale")
    w.xen = testing.person("Xen", "Xu")
    for who, pos in ((w.ann, w.reception), (w.bob, w.reception), (w.cat, w.doctor)):
        services.create_assignment(sys, who, pos, starts_on=today - dt.timedelta(days=200))
    ended = services.create_assignment(sys, w.dan, w.reception, starts_on=today - dt.timedelta(days=300),
                                       ends_on=today - dt.timedelta(days=100))
    services.update_assignment(sys, ended, state="ended")
    services.create_assignment(sys, w.xen, testing.position(w.other, "Clerk"), starts_on=today - dt.timedelta(days=10))

    w.service = services.create_service(sys, code="connecting-care", name="Connecting Care",
                                        roles=[{"code": "care-professional", "name": "Care Professional"}])
    now = clock.now()

    def account(person, *, used_days_ago=None, created_days_ago=300, state="active"):
        a = services.create_account(sys, person, w.service, username=person.uid, state=state)
        Account.objects.filter(pk=a.pk).update(
            created_at=now - dt.timedelta(days=created_days_ago),
            last_used_at=None if used_days_ago is None else now - dt.timedelta(days=used_days_ago))
        return a

    w.acc_ann = account(w.ann, used_days_ago=61)                         # inactive
    w.acc_bob = account(w.bob, used_days_ago=59)                         # not yet
    w.acc_cat = account(w.cat, used_days_ago=None, created_days_ago=70)  # never used: inactive
    w.acc_dan = account(w.dan, used_days_ago=100, state="suspended")     # already suspended
    w.acc_xen = account(w.xen, used_days_ago=90)                         # inactive, outside RA1
    return w
