"""Separation of duties and the refusals around it. Every refusal changes nothing: the ledger,
the requests and the directory stay as they were."""

import datetime as dt

import pytest

from careaccess.access_requests import services
from careaccess.access_requests.models import AccessRequest
from careaccess.access_requests.tests.conftest import CONFIRMED, ledger_size, person_of, walk
from careaccess.core.errors import Conflict, Forbidden, InvalidInput
from careaccess.directory import services as directory
from careaccess.directory import testing
from careaccess.directory.models import Assignment, Person

pytestmark = pytest.mark.django_db


class Unchanged:
    """Asserts on exit that a refusal wrote nothing."""

    def __enter__(self):
        self.size = ledger_size()
        self.requests = AccessRequest.objects.count()
        self.people = Person.objects.count()
        self.states = list(AccessRequest.objects.order_by("id").values_list("state", "version"))
        return self

    def __exit__(self, *exc):
        assert ledger_size() == self.size
        assert AccessRequest.objects.count() == self.requests
        assert Person.objects.count() == self.people
        assert list(AccessRequest.objects.order_by("id").values_list("state", "version")) == self.states
        return False


def refused(error, match=None):
    return pytest.raises(error, match=match)


def new_user(world, site, actor=None, **overrides):
    return services.raise_request(actor or site.requester, kind="new_user", organisation=site.organisation,
                                  service=world.service, details=world.new_user_details(site, **overrides))


def test_the_requester_never_validates_approves_or_fulfils_their_own_request(world):
    # rule DS5
    site = world.gp
    everything = testing.staff(site.organisation, "sponsor", "authoriser", given_name="Al", family_name="Rounder")
    back_office = testing.staff(world.icb, "local_administrator", "ra_agent", "service_desk", "authoriser",
                                given_name="Bea", family_name="Both")
    services.record_training(testing.SYSTEM, person_of(back_office), completed_on=dt.date(2026, 1, 1))
    req = new_user(world, site, everything)
    req = services.submit(everything, req)
    with Unchanged(), refused(Forbidden, "separation of duties"):
        services.validate(everything, req)
    req = services.validate(site.validator, req)
    with Unchanged(), refused(Forbidden, "DS5"):
        services.approve(everything, req, confirmations=CONFIRMED)
    req = services.approve(site.approver, req, confirmations=CONFIRMED)
    # the back office member raises one too, then may not fulfil it
    own = services.raise_request(back_office, kind="new_user", organisation=site.organisation, service=world.service,
                                 details=world.new_user_details(site), submit=True)
    own = services.approve(site.approver, services.validate(site.validator, own), confirmations=CONFIRMED)
    with Unchanged(), refused(Forbidden, "raised request"):
        services.fulfil(back_office, own)
    assert services.fulfil(back_office, req).state == "fulfilled"


def test_the_requester_never_checks_identity_for_their_own_request(world):
    # rule DS5: the sponsor is never the person who checks identity
    site = world.gp
    sponsor_agent = testing.staff(site.organisation, "sponsor", "ra_agent", given_name="Sid", family_name="Both")
    person = testing.person(given_name="Nia", family_name="Old")
    req = services.raise_request(sponsor_agent, kind="change_of_name", organisation=site.organisation,
                                 details={"person": person.uid, "given_name": "Nia", "family_name": "New"})
    with Unchanged(), refused(Forbidden, "DS5"):
        services.record_evidence(sponsor_agent, req, kind="face_to_face", details="passport seen")


def test_only_ra_agents_check_identity(world):
    # rule DS5: only RA agents check identity
    site = world.gp
    person = testing.person(given_name="Nia", family_name="Old")
    req = services.raise_request(site.requester, kind="change_of_name", organisation=site.organisation,
                                 details={"person": person.uid, "given_name": "Nia", "family_name": "New"})
    with Unchanged(), refused(Forbidden, "ra agent"):
        services.record_evidence(site.approver, req, kind="face_to_face", details="passport seen")


def test_nobody_acts_on_a_request_about_themselves(world):
    # rule DS5: a person can never approve a request about themselves
    site = world.gp
    req = services.raise_request(site.requester, kind="amendment", organisation=site.organisation,
                                 details={"person": site.approver.person_uid, "phone": "0113 496 0009"}, submit=True)
    req = services.validate(site.validator, req)
    with Unchanged(), refused(Forbidden, "about .* themselves"):
        services.approve(site.approver, req, confirmations=CONFIRMED)


def test_a_registered_person_cannot_be_raised_again_as_a_new_user(world):
    # a new user request is never about staff already registered (so never about the approver)
    site = world.gp
    approver = person_of(site.approver)
    with Unchanged(), refused(InvalidInput, "already registered"):
        new_user(world, site, ni_number=approver.ni_number, email="someone.new@example.nhs.uk")


def test_a_sponsor_elsewhere_is_not_a_validator_here(world):
    # rules CC1, CC6: validation is by this organisation's authoriser (or desk)
    req = services.submit(world.gp.requester, new_user(world, world.gp))
    with Unchanged(), refused(Forbidden, "B86001"):
        services.validate(world.trust.validator, req)


def test_a_trust_sponsor_is_not_an_authoriser_automatically(world):
    # rule CC1: only a GP practice's sponsors are its authorisers automatically
    site = world.trust
    req = services.submit(site.requester, new_user(world, site))
    req = services.validate(site.validator, req, ticket_reference="TD-1")
    other_sponsor = testing.staff(site.organisation, "sponsor", given_name="Sam", family_name="Sponsor")
    with Unchanged(), refused(Forbidden, "authoriser"):
        services.approve(other_sponsor, req, confirmations=CONFIRMED)


def test_an_organisation_with_a_desk_validates_only_at_the_desk(world):
    # rule CC6
    site = world.trust
    req = services.submit(site.requester, new_user(world, site))
    with Unchanged(), refused(Forbidden, "service desk"):
        services.validate(site.approver, req, ticket_reference="TD-1")
    with Unchanged(), refused(InvalidInput, "ticket reference"):
        services.validate(site.validator, req)


def test_an_organisation_without_a_sponsor_gets_nothing(world):
    # rule DS4
    lonely = testing.organisation("FA001", parent="QWO", kind="pharmacy")
    position = testing.position(lonely, "Pharmacist", service_roles=["connecting-care:care-professional"])
    authoriser = testing.staff(lonely, "authoriser", given_name="Ola", family_name="Auth")
    with Unchanged(), refused(Conflict, "DS4"):
        services.raise_request(authoriser, kind="new_user", organisation=lonely, service=world.service,
                               details=world.new_user_details(world.gp, position=position.pk))


def test_a_registered_professional_can_be_sponsored_centrally(world):
    # rule DS6: central sponsorship only for applicants on a professional register
    lonely = testing.organisation("FA002", parent="QWO", kind="pharmacy")
    position = testing.position(lonely, "Pharmacist", service_roles=["connecting-care:care-professional"])
    authoriser = testing.staff(lonely, "authoriser", given_name="Ola", family_name="Auth")
    details = world.new_user_details(world.gp, position=position.pk, professional_registration="GPhC 2071234")
    with Unchanged(), refused(Forbidden, "DS6"):
        services.raise_request(authoriser, kind="new_user", organisation=lonely, service=world.service,
                               details=details)
    req = services.raise_request(world.ra_agent, kind="new_user", organisation=lonely, service=world.service,
                                 details=details, submit=True)
    assert req.centrally_sponsored
    req = services.approve(authoriser, services.validate(authoriser, req), confirmations=CONFIRMED)
    assert services.fulfil(world.fulfiller, req).state == "fulfilled"


def test_a_sponsor_leaving_before_fulfilment_stops_it(world):
    # rule DS4, checked again when the change is made
    site = world.trust
    req = walk(world, site, new_user(world, site), until="approved")
    for assignment in Assignment.objects.filter(position__organisation=site.organisation,
                                                position__activities__code="B1300"):
        directory.update_assignment(testing.SYSTEM, assignment, state="ended")
    with Unchanged(), refused(Conflict, "DS4"):
        services.fulfil(world.fulfiller, req)


def test_only_the_lead_correspondent_raises_for_a_care_provider(world):
    # rule PP3
    site = world.provider
    with Unchanged(), refused(Forbidden, "PP3"):
        new_user(world, site, actor=site.approver)
    assert new_user(world, site).state == "draft"


def test_a_new_provider_is_onboarded_with_its_lead_correspondent_first(world):
    # rule PP11
    provider = testing.organisation("CP002", parent="QWO", kind="care_provider")
    lead = testing.position(provider, "Lead correspondent", capabilities=["lead_correspondent"],
                            service_roles=["connecting-care:administrator"])
    carer = testing.position(provider, "Carer", service_roles=["connecting-care:administrator"])
    lead_details = world.new_user_details(world.gp, position=lead.pk, service_role="administrator")
    with Unchanged(), refused(Conflict, "PP11"):
        services.raise_request(world.fulfiller, kind="new_user", organisation=provider, service=world.service,
                               details=world.new_user_details(world.gp, position=carer.pk, service_role="administrator"))
    manager = testing.staff(provider, "authoriser", given_name="Reg", family_name="Manager")
    with Unchanged(), refused(Forbidden, "PP11"):
        services.raise_request(manager, kind="new_user", organisation=provider, service=world.service,
                               details=lead_details)
    req = services.raise_request(world.fulfiller, kind="new_user", organisation=provider, service=world.service,
                                 details=lead_details, submit=True)
    assert req.onboards_provider
    req = services.approve(manager, services.validate(manager, req), confirmations=CONFIRMED)
    services.fulfil(_trained(world), req)  # not the fulfiller: they raised it (DS5)
    # the lead now raises the others (PP3)
    newcomer = Person.objects.get(ni_number=lead_details["ni_number"])
    from careaccess.core import permissions

    lead_actor = permissions.actor_for_person(newcomer)
    follow_up = services.raise_request(lead_actor, kind="new_user", organisation=provider, service=world.service,
                                       details=world.new_user_details(world.gp, position=carer.pk,
                                                                      service_role="administrator"))
    assert follow_up.state == "draft" and not follow_up.onboards_provider


def _trained(world):
    agent = testing.staff(world.icb, "ra_agent", given_name="Tia", family_name="Trained")
    services.record_training(testing.SYSTEM, person_of(agent), completed_on=dt.date(2026, 2, 1))
    return agent


@pytest.mark.parametrize("email", ["info@practice.nhs.uk", "admin@x.org", "office@x.org", "enquiries@x.org",
                                   "reception2@x.org", "Info@x.org"])
def test_generic_email_addresses_are_refused(world, email):
    # rule PP2
    with Unchanged(), refused(InvalidInput, "generic or shared") as error:
        new_user(world, world.gp, email=email)
    assert set(error.value.errors) == {"email"}


def test_an_address_already_used_by_someone_else_is_refused(world):
    # rule PP2: an address of a named individual, used by them alone
    taken = person_of(world.gp.approver).email
    with Unchanged(), refused(InvalidInput, "someone else"):
        new_user(world, world.gp, email=taken)


def test_only_trained_staff_fulfil(world):
    # rule PP5
    site = world.gp
    untrained = testing.staff(world.icb, "local_administrator", "ra_agent", given_name="Una", family_name="Trained")
    req = walk(world, site, new_user(world, site), until="approved")
    with Unchanged(), refused(Forbidden, "PP5"):
        services.fulfil(untrained, req)
    services.record_training(testing.SYSTEM, person_of(untrained), completed_on=dt.date(2025, 1, 1),
                             valid_until=dt.date(2026, 1, 1))
    with Unchanged(), refused(Forbidden, "PP5"):  # expired
        services.fulfil(untrained, req)
    services.record_training(testing.SYSTEM, person_of(untrained), completed_on=dt.date(2026, 5, 1),
                             service=world.service)
    assert services.fulfil(untrained, req).state == "fulfilled"


def test_special_circumstances_need_written_confirmation(world):
    # rule PP14
    site = world.provider
    person = testing.person(given_name="Cy", family_name="Carer")
    directory.create_assignment(testing.SYSTEM, person, site.admin)
    req = services.raise_request(site.requester, kind="deletion", organisation=site.organisation,
                                 service=world.service, details={"person": person.uid},
                                 special_circumstances="provider closing on 30 June")
    req = walk(world, site, req, until="approved")
    with Unchanged(), refused(Conflict, "PP14"):
        services.fulfil(world.fulfiller, req)
    with Unchanged(), refused(InvalidInput, "authority"):
        services.record_evidence(world.fulfiller, req, kind="written", details="letter of 1 June")
    services.record_evidence(world.fulfiller, req, kind="written", details="letter of 1 June",
                             confirmed_by_name="Pat Adams", confirmed_by_role="Appointed administrator")
    assert services.fulfil(world.fulfiller, req).state == "fulfilled"


def test_staff_outside_the_back_office_cannot_fulfil(world):
    site = world.gp
    req = walk(world, site, new_user(world, site), until="approved")
    with Unchanged(), refused(Forbidden, "fulfil"):
        services.fulfil(site.approver, req)


def test_illegal_transitions_are_refused_clearly(world):
    # the state machine: a draft cannot be approved; a fulfilled request cannot be fulfilled again
    site = world.gp
    req = new_user(world, site)
    with Unchanged(), refused(Conflict, "a request that is draft cannot be approved; it can now be: submit, withdraw"):
        services.approve(site.approver, req, confirmations=CONFIRMED)
    req = walk(world, site, req)
    with Unchanged(), refused(Conflict, "nothing more can be done"):
        services.fulfil(world.fulfiller, req)


def test_a_stale_version_is_a_conflict(world):
    site = world.gp
    req = services.submit(site.requester, new_user(world, site))
    services.validate(site.validator, req, version=req.version)
    with Unchanged(), refused(Conflict, "changed by someone else"):
        services.reject(site.validator, req, version=req.version, reason="late")


@pytest.mark.parametrize("details,fields", [
    ({"given_name": "", "family_name": "X", "ni_number": "123", "email": "nope", "position": 999999},
     {"given_name", "ni_number", "email", "position", "date_of_birth", "phone", "service_role"}),
    ({"favourite": "blue"}, {"favourite", "given_name", "family_name", "date_of_birth", "ni_number", "email",
                             "phone", "position", "service_role"}),
])
def test_bad_input_names_every_problem_and_creates_nothing(world, details, fields):
    with Unchanged(), refused(InvalidInput) as error:
        services.raise_request(world.gp.requester, kind="new_user", organisation=world.gp.organisation,
                               service=world.service, details=details)
    assert fields <= set(error.value.errors)


def test_a_role_the_service_does_not_offer_or_the_position_does_not_carry(world):
    # rule SC8: access only through positions
    with Unchanged(), refused(InvalidInput, "offers the roles"):
        new_user(world, world.gp, service_role="superuser")
    with Unchanged(), refused(InvalidInput, "SC8"):
        new_user(world, world.gp, service_role="administrator")  # the Clinician position carries care-professional


def test_a_purpose_the_service_does_not_allow_is_refused(world):
    # rule CC2: for anything but direct care, raise a secondary-purpose request
    with Unchanged(), refused(InvalidInput, "secondary-purpose"):
        services.raise_request(world.gp.requester, kind="new_user", organisation=world.gp.organisation,
                               service=world.service, purpose="audit", details=world.new_user_details(world.gp))


def test_unknown_kind(world):
    with Unchanged(), refused(InvalidInput, "choose one of"):
        services.raise_request(world.gp.requester, kind="upgrade", organisation=world.gp.organisation, details={})


def test_the_service_policy_says_who_raises_and_who_fulfils(world):
    # the service's policy is data: here only authorisers raise, and only RA agents fulfil
    site = world.gp
    policy = services.set_service_policy(testing.SYSTEM, world.service, raise_capabilities=["authoriser"],
                                         fulfil_capabilities=["ra_agent"])
    assert policy.raise_capabilities == ["authoriser"]
    with Unchanged(), refused(Forbidden, "authoriser"):
        new_user(world, site)  # the requester is a sponsor
    req = new_user(world, site, actor=site.approver)
    req = services.validate(site.validator, services.submit(site.approver, req))
    other = testing.staff(site.organisation, "authoriser", given_name="Oli", family_name="Other")
    req = services.approve(other, req, confirmations=CONFIRMED)
    admin_only = testing.staff(world.icb, "local_administrator", given_name="Ada", family_name="Min")
    services.record_training(testing.SYSTEM, person_of(admin_only), completed_on=dt.date(2026, 1, 1))
    with Unchanged(), refused(Forbidden, "ra agent"):
        services.fulfil(admin_only, req)
    assert services.fulfil(world.fulfiller, req).state == "fulfilled"


def test_a_service_policy_names_only_known_capabilities(world):
    with refused(InvalidInput, "drawn from"):
        services.set_service_policy(testing.SYSTEM, world.service, raise_capabilities=["janitor"])
    with refused(Forbidden):
        services.set_service_policy(world.gp.requester, world.service, raise_capabilities=["sponsor"])


@pytest.mark.parametrize("step", ["validate", "approve", "fulfil"])
def test_nobody_validates_approves_or_fulfils_a_request_about_themselves(world, step):
    # rule DS5
    site = world.gp
    actor = {"validate": site.validator, "approve": site.approver, "fulfil": world.fulfiller}[step]
    req = services.raise_request(site.requester, kind="amendment", organisation=site.organisation,
                                 details={"person": actor.person_uid, "phone": "0113 496 0042"}, submit=True)
    if step != "validate":
        req = services.validate(site.validator, req)
    if step == "fulfil":
        req = services.approve(site.approver, req, confirmations=CONFIRMED)
    call = {"validate": lambda: services.validate(actor, req),
            "approve": lambda: services.approve(actor, req, confirmations=CONFIRMED),
            "fulfil": lambda: services.fulfil(actor, req)}[step]
    with Unchanged(), refused(Forbidden, "themselves"):
        call()
