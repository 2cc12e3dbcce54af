"""The full happy path of every request type, through both routes (CC6), changing the directory."""

import pytest

from careaccess.access_requests import services
from careaccess.access_requests.tests.conftest import walk
from careaccess.directory.models import Account, Person

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize("route", ["authoriser", "desk"])
def test_new_user_is_registered_placed_and_given_an_account(world, route):
    # rules CC4, SC4, CC6
    site = world.site(route)
    req = services.raise_request(site.requester, kind="new_user", organisation=site.organisation,
                                 service=world.service, details=world.new_user_details(site),
                                 note="ticket 42, intended position Clinician")
    assert req.state == "draft"
    req = walk(world, site, req)
    assert req.state == "fulfilled"
    person = Person.objects.get(ni_number=req.details["ni_number"])
    assert req.subject == person
    account = Account.objects.get(person=person, service=world.service)
    assert account.state == "active" and account.username == req.outcome["username"]
    assert person.assignments.get().position == site.clinician
