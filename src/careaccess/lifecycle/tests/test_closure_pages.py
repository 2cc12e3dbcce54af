"""The closure pages (rule PP10): the form with its error summary, the confirmation step counting
what will be suspended, recording a planned or sudden closure, scheduling replacement positions at
the successor, and who may use them."""

import datetime as dt

from careaccess.directory import testing
from careaccess.directory.models import Account, Assignment, Organisation
from careaccess.lifecycle import sweeps
from careaccess.lifecycle.models import Closure

from .conftest import SYSTEM, ledger_size, person_of
from .test_pages import sign_in


def _date(day: dt.date) -> dict[str, str]:
    return {"on_day": str(day.day), "on_month": str(day.month), "on_year": str(day.year)}


def test_pp10_the_home_page_links_ra_managers_to_the_closure_page(world, client):
    sign_in(client, person_of(world.ra_manager))
    home = client.get("/").content.decode()
    assert "Record an organisation&#39;s closure" in home and 'href="/lifecycle/closures"' in home


def test_pp10_bad_input_lists_every_problem_and_changes_nothing(world, clock, client):
    sign_in(client, person_of(world.ra_manager))
    size = ledger_size()
    response = client.post("/lifecycle/closures", {"organisation": "NOPE1", "kind": "", "on_day": "31",
                                                   "on_month": "2", "on_year": "2027"})
    assert response.status_code == 422
    html = response.content.decode()
    assert "Error: Record an organisation" in html
    assert "No organisation has the code NOPE1" in html and 'href="#organisation"' in html
    assert "Select whether the closure is planned or sudden" in html and 'href="#kind"' in html
    assert "Closing date must be a real date" in html and 'href="#on_day"' in html

    yesterday = clock.today() - dt.timedelta(days=1)
    past = client.post("/lifecycle/closures", {"organisation": "vn123", "kind": "planned", **_date(yesterday),
                                               "confirmation": ""})
    html = past.content.decode()
    assert past.status_code == 422
    assert f"A planned closure cannot be dated in the past ({yesterday.isoformat()})" in html  # rule PP10
    assert "say who confirmed the closure in writing".capitalize() in html  # rule PP14
    assert 'value="VN123"' not in html and 'value="vn123"' in html  # what was typed is kept
    world.provider.refresh_from_db()
    assert world.provider.status == Organisation.Status.ACTIVE and ledger_size() == size
    assert not Closure.objects.exists()


def test_pp10_planned_closure_confirmation_counts_then_records_and_schedules_the_successor(world, clock, client):
    leaving, leaving_account = world.user(world.provider, given_name="Lena")
    moving, moving_account = world.user(world.provider, given_name="Mo")
    also_at_gp, kept_account = world.user(world.provider, given_name="Gil")
    from careaccess.directory import services as directory

    directory.create_assignment(SYSTEM, also_at_gp, world.gp_carer)
    successor = testing.organisation("VN999", parent="QWO", kind="care_provider")
    new_carer = testing.position(successor, "Carer", service_roles=["provider-portal:carer"])
    closing_on = clock.today() + dt.timedelta(days=7)
    form = {"organisation": "VN123", "kind": "planned", **_date(closing_on), "successor": "VN999",
            "confirmation": "Registered manager, letter of 2 March"}
    sign_in(client, person_of(world.ra_manager))
    size = ledger_size()

    check = client.post("/lifecycle/closures", form)
    html = check.content.decode()
    assert check.status_code == 200 and "Check the closure of" in html
    # the lead correspondent and three carers; Lena, Mo and Lee (the lead, with no account here) lose
    # their only position, Gil keeps the GP practice's
    assert "4 assignments at" in html and "2 accounts of people with no position elsewhere" in html
    assert closing_on.strftime("%d %B %Y") in html
    assert ledger_size() == size and not Closure.objects.exists()  # the check changes nothing

    done = client.post("/lifecycle/closures", {**form, "step": "confirm"})
    closure = Closure.objects.get()
    assert done.status_code == 302 and done["Location"] == f"/lifecycle/closures/{closure.pk}"
    assert closure.successor == successor and closure.closes_on == closing_on and not closure.sudden
    assert Organisation.objects.get(pk=world.provider.pk).status == Organisation.Status.CLOSING

    page = client.get(f"/lifecycle/closures/{closure.pk}").content.decode()
    assert "Scheduled for the closing date" in page and "None scheduled yet" in page
    wrong = client.post(f"/lifecycle/closures/{closure.pk}", {"person": "nobody", "position": ""})
    assert wrong.status_code == 422 and "Enter the identifier of a person" in wrong.content.decode()
    assert "Select a position at the successor" in wrong.content.decode()
    scheduled = client.post(f"/lifecycle/closures/{closure.pk}", {"person": moving.uid, "position": str(new_carer.pk)})
    assert scheduled.status_code == 302
    replacement = Assignment.objects.get(person=moving, position=new_carer)
    assert replacement.starts_on == closing_on
    assert moving.uid in client.get(f"/lifecycle/closures/{closure.pk}").content.decode()

    clock.advance(dt.timedelta(days=7))  # the closing date
    sweeps.closures()
    for account in (leaving_account, moving_account, kept_account):
        account.refresh_from_db()
    assert leaving_account.state == Account.State.SUSPENDED
    assert moving_account.state == Account.State.ACTIVE and kept_account.state == Account.State.ACTIVE


def test_pp10_sudden_closure_from_the_page_suspends_at_once(world, clock, client):
    _, account = world.user(world.provider)
    sign_in(client, person_of(world.ra_manager))
    form = {"organisation": "VN123", "kind": "sudden", "confirmation": "Appointed administrator, phone then email"}
    check = client.post("/lifecycle/closures", form).content.decode()
    assert "Sudden: suspended now" in check and "will be suspended now" in check
    account.refresh_from_db()
    assert account.state == Account.State.ACTIVE
    assert client.post("/lifecycle/closures", {**form, "step": "confirm"}).status_code == 302
    account.refresh_from_db(), world.provider.refresh_from_db()
    assert account.state == Account.State.SUSPENDED and world.provider.status == Organisation.Status.CLOSED
    again = client.post("/lifecycle/closures", form)
    assert again.status_code == 422 and "is already closed" in again.content.decode()


def test_pp10_closure_pages_are_for_ra_managers_covering_the_organisation(world, client):
    sign_in(client, person_of(world.lead))
    assert client.get("/lifecycle/closures").status_code == 403
    assert client.post("/lifecycle/closures", {"organisation": "VN123", "kind": "sudden",
                                               "confirmation": "x"}).status_code == 403
    client.logout()
    elsewhere = testing.organisation("QXX", kind="icb", oversees_descendants=True)
    other_manager = testing.staff(elsewhere, "ra_manager", given_name="Ola", family_name="Other")
    sign_in(client, person_of(other_manager))
    refused = client.post("/lifecycle/closures", {"organisation": "VN123", "kind": "sudden", "confirmation": "x"})
    assert refused.status_code == 403
    assert Organisation.objects.get(pk=world.provider.pk).status == Organisation.Status.ACTIVE


def test_pp10_confirming_records_from_the_form_without_planning_again(world, clock, client, monkeypatch):
    from careaccess.lifecycle import services

    sign_in(client, person_of(world.ra_manager))
    form = {"organisation": "VN123", "kind": "sudden", "confirmation": "Appointed administrator, phone then email"}
    assert client.post("/lifecycle/closures", form).status_code == 200

    def no_second_plan(*args, **kwargs):
        raise AssertionError("the confirmation step planned the closure again")

    monkeypatch.setattr(services, "plan_closure", no_second_plan)
    assert client.post("/lifecycle/closures", {**form, "step": "confirm"}).status_code == 302
    assert Closure.objects.filter(organisation=world.provider).count() == 1
    # record_closure checks the data as it is on confirming: a second confirmation finds it closed.
    again = client.post("/lifecycle/closures", {**form, "step": "confirm"})
    assert again.status_code == 422 and "is already closed" in again.content.decode()
