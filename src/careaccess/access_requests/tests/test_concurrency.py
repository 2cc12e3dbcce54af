"""Two staff acting on the same request at once: exactly one wins, the other gets Conflict
(row lock + version). Real concurrency needs PostgreSQL: threads with their own connections."""

from __future__ import annotations

import datetime as dt
import threading

import pytest
from django.db import connection, connections

from careaccess.access_requests import services
from careaccess.access_requests.models import AccessRequest
from careaccess.access_requests.tests.conftest import CONFIRMED, ledger_size, person_of, walk
from careaccess.core.audit.models import Entry
from careaccess.core.errors import Conflict
from careaccess.directory import testing
from careaccess.directory.models import Person

needs_postgres = pytest.mark.skipif(connection.vendor != "postgresql",
                                    reason="concurrent transactions need PostgreSQL (set DATABASE_URL)")


def race(*calls):
    """Run the calls at the same instant, each in its own thread and connection."""
    barrier = threading.Barrier(len(calls))
    results: list = [None] * len(calls)

    def run(i, call):
        try:
            barrier.wait()
            results[i] = call()
        except BaseException as exc:  # noqa: BLE001 - inspected by the test
            results[i] = exc
        finally:
            connections.close_all()

    threads = [threading.Thread(target=run, args=(i, call)) for i, call in enumerate(calls)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    return results


@pytest.mark.postgres
@needs_postgres
@pytest.mark.django_db(transaction=True)
def test_two_authorisers_approving_at_once_one_wins(world):
    site = world.gp
    second = testing.staff(site.organisation, "authoriser", given_name="Second", family_name="Approver")
    req = services.raise_request(site.requester, kind="new_user", organisation=site.organisation,
                                 service=world.service, details=world.new_user_details(site), submit=True)
    req = services.validate(site.validator, req, version=req.version)
    size = ledger_size()
    results = race(*(lambda who=who: services.approve(who, req.reference, version=req.version,
                                                      confirmations=CONFIRMED)
                     for who in (site.approver, second)))
    winners = [r for r in results if isinstance(r, AccessRequest)]
    losers = [r for r in results if isinstance(r, Conflict)]
    assert len(winners) == 1 and len(losers) == 1, results
    assert "changed by someone else" in losers[0].message
    stored = AccessRequest.objects.get(pk=req.pk)
    assert stored.state == "approved" and stored.version == req.version + 1
    assert ledger_size() == size + 1
    assert Entry.objects.filter(access_request=req.reference, action="request.approved").count() == 1


@pytest.mark.postgres
@needs_postgres
@pytest.mark.django_db(transaction=True)
def test_two_back_office_staff_fulfilling_at_once_create_one_person(world):
    site = world.trust
    other = testing.staff(world.icb, "local_administrator", "ra_agent", given_name="Other", family_name="Office")
    services.record_training(testing.SYSTEM, person_of(other), completed_on=dt.date(2026, 1, 2))
    req = services.raise_request(site.requester, kind="new_user", organisation=site.organisation,
                                 service=world.service, details=world.new_user_details(site))
    req = walk(world, site, req, until="approved")
    people = Person.objects.count()
    results = race(*(lambda who=who: services.fulfil(who, req.reference, version=req.version)
                     for who in (world.fulfiller, other)))
    assert sorted(type(r).__name__ for r in results) == ["AccessRequest", "Conflict"], results
    assert Person.objects.count() == people + 1
    assert AccessRequest.objects.get(pk=req.pk).state == "fulfilled"


@pytest.mark.postgres
@needs_postgres
@pytest.mark.django_db(transaction=True)
def test_a_rejection_racing_an_approval_one_wins(world):
    site = world.gp
    req = services.raise_request(site.requester, kind="new_user", organisation=site.organisation,
                                 service=world.service, details=world.new_user_details(site), submit=True)
    req = services.validate(site.validator, req, version=req.version)
    second = testing.staff(site.organisation, "authoriser", given_name="Rejecting", family_name="Approver")
    results = race(
        lambda: services.approve(site.approver, req.reference, version=req.version, confirmations=CONFIRMED),
        lambda: services.reject(second, req.reference, version=req.version, reason="not needed"),
    )
    assert sum(isinstance(r, Conflict) for r in results) == 1, results
    assert AccessRequest.objects.get(pk=req.pk).state in ("approved", "rejected")
