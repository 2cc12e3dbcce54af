"""The demo lets a new user finish a request: realistic position and service-role pairs for every
demo service (rule SC8: access only through positions), and a back office trained to action
requests (rule PP5). Loading stays idempotent, and a demo loaded before these were added gains
them on the next load."""

from __future__ import annotations

from django.test import TestCase, override_settings

from careaccess.access_requests import services as requests
from careaccess.core import permissions
from careaccess.core.audit.models import Head
from careaccess.directory import demo
from careaccess.directory import services as directory
from careaccess.directory.models import Person, Position, Service
from careaccess.identity import selectors as identity_selectors
from careaccess.identity.models import TrainingRecord


def carrying(organisation: str, role: str) -> set[str]:
    service, code = role.split(":")
    return set(Position.objects.filter(organisation__code=organisation, service_roles__service__code=service,
                                       service_roles__code=code).values_list("name", flat=True))


@override_settings(PASSWORD_HASHERS=["django.contrib.auth.hashers.MD5PasswordHasher"])
class DemoJourney(TestCase):
    @classmethod
    def setUpTestData(cls):
        demo.load()

    def test_every_demo_service_has_positions_carrying_its_roles(self):  # rule SC8
        assert {"Pharmacy Manager", "Pharmacist", "Pharmacy Technician"} <= carrying("FA123", "smartcard:card-holder")
        assert "Practice Nurse" in carrying("B86001", "connecting-care:care-professional")
        assert "Staff Nurse" in carrying("RVR", "connecting-care:care-professional")
        assert "Ward Clerk" in carrying("RVR", "connecting-care:administrator")
        assert "Pharmacist" in carrying("FA123", "nhsmail:mailbox-user")
        assert "Receptionist" in carrying("B86001", "connecting-care:administrator")
        assert "Staff Nurse" in carrying("RVR", "smartcard:card-holder")
        # no job-role codes, no smartcard (SC8): a care home's care assistants carry none
        assert "Care Assistant" not in carrying("VR1A4", "smartcard:card-holder")
        assert "Registered Manager" in carrying("VR1A4", "smartcard:card-holder")

    def test_the_back_office_and_the_ra_are_trained_to_action_requests(self):  # rule PP5
        by_actor = {row.actor: row.person for row in demo.logins()}
        nhsmail, connecting_care, smartcard = (Service.objects.get(code=c) for c in
                                               ("nhsmail", "connecting-care", "smartcard"))
        admin, agent = by_actor["local_administrator"], by_actor["ra_agent"]
        assert identity_selectors.trained_to_action(admin.id, nhsmail)
        assert not identity_selectors.trained_to_action(admin.id, connecting_care)
        for service in (nhsmail, connecting_care, smartcard):
            assert identity_selectors.trained_to_action(agent.id, service)
            assert identity_selectors.trained_to_action(by_actor["ra_manager"].id, service)
        for actor in ("sponsor", "authoriser", "service_desk", "auditor", "user"):
            assert not TrainingRecord.objects.filter(person=by_actor[actor], kind="actioning").exists(), actor

    def test_a_second_load_adds_nothing(self):
        size = Head.objects.size()
        records = TrainingRecord.objects.count()
        assert demo.load().total == 0
        assert Head.objects.size() == size and TrainingRecord.objects.count() == records

    def test_a_demo_loaded_earlier_gains_the_new_pairs_and_training(self):
        system = demo.Actor.system("test")
        pharmacist = Position.objects.get(organisation__code="FA123", name="Pharmacist")
        directory.update_position(system, pharmacist, service_roles=["nhsmail:mailbox-user"])
        TrainingRecord.objects.filter(kind="actioning").delete()
        assert not carrying("FA123", "smartcard:card-holder") >= {"Pharmacist"}
        result = demo.load()
        assert result.created["position service roles"] == 1 and result.created["training records"] >= 5
        assert "Pharmacist" in carrying("FA123", "smartcard:card-holder")
        assert demo.load().total == 0

    def test_a_demo_agent_may_fulfil_a_pharmacy_new_user(self):  # rules PP5, DS5
        by_actor = {row.actor: row.person for row in demo.logins()}
        agent = permissions.actor_for_person(by_actor["ra_agent"])
        sponsor = permissions.actor_for_person(by_actor["sponsor"])
        position = Position.objects.get(organisation__code="FA123", name="Pharmacist")
        req = requests.raise_request(
            sponsor, kind="new_user", organisation=position.organisation, service=Service.objects.get(code="nhsmail"),
            details={"title": "", "given_name": "Ann", "family_name": "Demo", "date_of_birth": "1990-07-14",
                     "ni_number": "JZ123456C", "email": "ann.demo@example.nhs.uk", "phone": "0113 496 0001",
                     "position": position.pk, "service_role": "mailbox-user"})
        assert req.organisation.code == "FA123"
        assert requests.fulfil_refusal(agent, agent, req) == ""
        admin = permissions.actor_for_person(by_actor["local_administrator"])
        assert "ra agent" in requests.fulfil_refusal(admin, admin, req)
        assert Person.objects.filter(email="ann.demo@example.nhs.uk").count() == 0
