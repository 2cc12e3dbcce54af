"""Reports checked against known data (rules DS17, PP15, DS4, PP7, CC7): rows, scope, CSV,
charts, refusals, and one ledger entry per run."""

from __future__ import annotations

import csv
import datetime as dt
import io
import re

import pytest
from django.core.management import call_command

from careaccess.access_requests.models import AccessRequest
from careaccess.core.audit.models import Entry
from careaccess.core.errors import Forbidden, InvalidInput
from careaccess.credentials.models import Card, Certificate
from careaccess.directory.models import Organisation
from careaccess.reports import selectors

from .conftest import ledger_size, sign_in


def rows(actor, name, **params):
    report = selectors.get(name)
    return list(report.rows(actor, selectors.clean_params(report, params)))


def run(actor, name, **params):
    report = selectors.get(name)
    return selectors.run(actor, report, selectors.clean_params(report, params))


@pytest.mark.django_db
def test_people_and_positions_by_organisation(world):
    found = rows(world.manager, "people-positions", organisation="GPA01")
    assert [(r["organisation"], r["position_name"], r["family_name"]) for r in found] == [
        ("GPA01", "GP", "Cole"), ("GPA01", "Receptionist", "Abbott"), ("GPA01", "Receptionist", "Brown")]
    with_ended = rows(world.manager, "people-positions", organisation="GPA01", include_ended="yes")
    assert [r["family_name"] for r in with_ended] == ["Cole", "Abbott", "Brown", "Dale"]
    assert with_ended[-1]["assignment_state"] == "ended"
    # Without an organisation: everything the RA manager's RA covers, ordered by organisation.
    every = rows(world.manager, "people-positions")
    codes = [r["organisation"] for r in every]
    assert codes == sorted(codes) and "XXA01" not in codes and {"GPA01", "PHA01", "PHA02", "PHA03", "RAA01"} <= set(codes)
    # A sponsor sees their own organisation only.
    assert {r["organisation"] for r in rows(world.sponsor, "people-positions")} == {"PHA01"}
    with pytest.raises(Forbidden):
        rows(world.sponsor, "people-positions", organisation="GPA01")


@pytest.mark.django_db
def test_inactive_accounts_rule_pp7(world, clock):
    found = rows(world.manager, "inactive-accounts")
    assert [r["uid"] for r in found] == [world.ann.uid, world.cat.uid]  # oldest use first, then never used
    everyone = rows(selectors.Actor.system("test"), "inactive-accounts")
    assert [r["uid"] for r in everyone] == [world.xen.uid, world.ann.uid, world.cat.uid]
    assert [r["uid"] for r in rows(world.manager, "inactive-accounts", days="58")] == [
        world.ann.uid, world.bob.uid, world.cat.uid]
    clock.advance(dt.timedelta(days=2))  # Bob reaches 61 days
    assert world.bob.uid in {r["uid"] for r in rows(world.manager, "inactive-accounts")}
    assert rows(world.sponsor, "inactive-accounts") == []  # nobody at P1 has an account


@pytest.mark.django_db
def test_inactive_chart_counts_accounts_by_the_week_they_went_inactive(world):
    page = run(selectors.Actor.system("test"), "inactive-accounts")
    assert len(page.chart) in (12, 13) and all(re.fullmatch(r"\d{4}-\d{2}-\d{2}", w) for w, _ in page.chart)
    # Ann crossed 60 days yesterday, Xen 30 days ago; Cat has never used hers (no week), Dan is suspended.
    assert sum(n for _, n in page.chart) == 2
    assert page.chart[-1][1] + page.chart[-2][1] >= 1


def _card(person, serial, *, not_after, revoked_at=None, state=Card.State.ACTIVE, now):
    card = Card.objects.create(serial=serial, series="05", person=person, state=state, public_key_der=b"k",
                               encrypted_key=b"e", issued_at=now, issued_by_label="test", updated_at=now)
    cert = Certificate.objects.create(serial=f"c{serial}", card=card, person_uid=person.uid, not_before=now,
                                      not_after=not_after, der=b"d", issued_at=now,
                                      status="revoked" if revoked_at else "valid", revoked_at=revoked_at,
                                      revocation_reason="keyCompromise" if revoked_at else "")
    Card.objects.filter(pk=card.pk).update(certificate=cert)
    return card


@pytest.mark.django_db
def test_expiring_and_revoked_cards(world, clock):
    now = clock.now()
    _card(world.ann, "1001", not_after=now + dt.timedelta(days=20), now=now)
    _card(world.bob, "1002", not_after=now + dt.timedelta(days=80), now=now)
    _card(world.cat, "1003", not_after=now + dt.timedelta(days=400), now=now)
    _card(world.xen, "1004", not_after=now + dt.timedelta(days=5), now=now)  # outside RA1
    _card(world.dan, "1005", not_after=now + dt.timedelta(days=300), now=now, state=Card.State.REVOKED,
          revoked_at=now - dt.timedelta(days=3))
    assert [r["serial"] for r in rows(world.manager, "cards-expiring")] == ["1001", "1002"]
    assert [r["serial"] for r in rows(world.manager, "cards-expiring", days="30")] == ["1001"]
    revoked = rows(world.manager, "cards-revoked")
    assert [(r["card_serial"], r["uid"], r["card_state"]) for r in revoked] == [("1005", world.dan.uid, "revoked")]
    page = run(world.manager, "cards-revoked")
    assert sum(n for _, n in page.chart) == 1


@pytest.mark.django_db
def test_overdue_requests_rule_cc7(world, clock):
    now, today = clock.now(), clock.today()

    def request(ref, org, state, due):
        return AccessRequest.objects.create(reference=ref, kind="new_user", state=state, title=f"t {ref}",
                                            organisation=org, route="authoriser", raised_by_label="x",
                                            created_at=now, updated_at=now, due_on=due)

    request("REQ-A", world.gp, "approved", today - dt.timedelta(days=3))
    request("REQ-B", world.p1, "approved", today - dt.timedelta(days=1))
    request("REQ-C", world.gp, "approved", today)               # due today: not overdue
    request("REQ-D", world.gp, "fulfilled", today - dt.timedelta(days=9))
    request("REQ-E", world.other, "approved", today - dt.timedelta(days=5))
    assert [r["reference"] for r in rows(world.manager, "overdue-requests")] == ["REQ-A", "REQ-B"]
    assert [r["reference"] for r in rows(world.sponsor, "overdue-requests")] == ["REQ-B"]
    assert [r["reference"] for r in rows(world.manager, "overdue-requests", organisation="GPA01")] == ["REQ-A"]


@pytest.mark.django_db
def test_sponsors_and_ra_agents_per_organisation_rule_ds4(world):
    found = {r["code"]: r for r in rows(world.manager, "sponsors-agents")}
    assert set(found) == {"RAA01", "GPA01", "PHA01", "PHA02", "PHA03"}
    assert (found["PHA01"]["sponsors"], found["PHA01"]["ra_agents"], found["PHA01"]["either"]) == (1, 0, 1)
    assert found["PHA01"]["flag"] == "pharmacy with fewer than two sponsors or RA agents"
    assert (found["PHA02"]["sponsors"], found["PHA02"]["ra_agents"], found["PHA02"]["flag"]) == (1, 1, "")
    assert (found["PHA03"]["ra_agents"], found["PHA03"]["flag"]) == (2, "pharmacy with no sponsor")
    assert found["GPA01"]["flag"] == "no sponsor or RA agent"
    assert found["RAA01"]["ra_agents"] == 1 and found["RAA01"]["flag"] == ""
    flagged = [r["code"] for r in rows(world.manager, "sponsors-agents", flagged_only="yes")]
    assert flagged == ["GPA01", "PHA01", "PHA03"]
    assert [r["code"] for r in rows(world.manager, "sponsors-agents", kind="pharmacy", flagged_only="yes")] == ["PHA01", "PHA03"]
    assert run(world.manager, "sponsors-agents").chart == []
    chart = dict(run(world.manager, "sponsors-agents", flagged_only="yes").chart)
    assert chart == {"no sponsor or RA agent": 1, "pharmacy with no sponsor": 1,
                     "pharmacy with fewer than two sponsors or RA agents": 1}


@pytest.mark.django_db
def test_sponsor_through_an_activity_that_includes_the_sponsor_code(world):
    from django.conf import settings

    from careaccess.directory import services, testing

    services.upsert_activity(testing.SYSTEM, code="B9999", name="Senior sponsor",
                             includes=[settings.CAREACCESS_STAFF_ACTIVITIES["sponsor"]])
    pos = testing.position(world.gp, "Practice manager", activities=["B9999"])
    services.create_assignment(testing.SYSTEM, testing.person("Mo", "Mann"), pos)
    g1 = next(r for r in rows(world.manager, "sponsors-agents") if r["code"] == "GPA01")
    assert (g1["sponsors"], g1["flag"]) == (1, "")


@pytest.mark.django_db
def test_targeted_audit_of_a_person_and_an_organisation(world):
    found = rows(world.auditor, "targeted-audit", person=world.ann.uid)
    assert [r["action"] for r in found][-1] == "person.created"
    assert {"assignment.created", "account.created"} <= {r["action"] for r in found}
    assert [r["index"] for r in found] == sorted((r["index"] for r in found), reverse=True)
    org = rows(world.auditor, "targeted-audit", organisation="pha01")
    assert org and all(r["organisation_code"] == "PHA01" for r in org)
    # Reading it is one ledger search entry, with the filters.
    before = ledger_size()
    run(world.auditor, "targeted-audit", person=world.ann.uid)
    assert ledger_size() == before + 1
    entry = Entry.objects.get(index=before)
    assert entry.action == "audit.searched" and entry.person_uid == world.ann.uid
    # Outside the auditor's scope: nothing.
    assert rows(world.auditor, "targeted-audit", person=world.xen.uid) == [] or all(
        r["organisation_code"] != "XXA01" for r in rows(world.auditor, "targeted-audit", person=world.xen.uid))
    with pytest.raises(InvalidInput):
        selectors.clean_params(selectors.get("targeted-audit"), {})
    with pytest.raises(InvalidInput):
        selectors.clean_params(selectors.get("targeted-audit"), {"person": "123"})
    with pytest.raises(Forbidden):  # sponsors do not read the ledger
        run(world.sponsor, "targeted-audit", organisation="PHA01")


@pytest.mark.django_db
def test_every_run_is_one_ledger_entry_and_refusals_record_nothing(world):
    before = ledger_size()
    page = run(world.manager, "people-positions", organisation="GPA01")
    assert ledger_size() == before + 1
    entry = Entry.objects.get(index=before)
    assert (entry.action, entry.target_id, entry.organisation_code) == ("report.read", "people-positions", "GPA01")
    assert '"shown":3' in entry.after and entry.actor_uid == world.manager.person_uid
    assert len(page.rows) == 3 and not page.has_next
    before = ledger_size()
    with pytest.raises(Forbidden):
        run(world.agent, "people-positions")
    with pytest.raises(InvalidInput):
        run(world.manager, "inactive-accounts", days="lots")
    assert ledger_size() == before


@pytest.mark.django_db
def test_pages_of_a_report(world, settings):
    report = selectors.get("people-positions")
    first = selectors.run(world.manager, report, {"organisation": "GPA01"}, page=1, size=2)
    second = selectors.run(world.manager, report, {"organisation": "GPA01"}, page=2, size=2)
    assert [r["family_name"] for r in first.rows + second.rows] == ["Cole", "Abbott", "Brown"]
    assert first.has_next and not second.has_next and (second.first, second.last) == (3, 3)


# --- pages and CSV ---

@pytest.mark.django_db
def test_report_page_renders_a_table_and_a_chart(client, world):
    sign_in(client, world.manager)
    index = client.get("/reports/")
    assert index.status_code == 200 and 'href="/reports/sponsors-agents"' in index.content.decode()
    page = client.get("/reports/inactive-accounts")
    html = page.content.decode()
    assert page.status_code == 200
    assert "<title>Inactive accounts" in html and "<svg" in html and "Accounts going inactive per week" in html
    assert world.ann.uid in html and world.cat.uid in html and world.bob.uid not in html
    assert 'href="/reports/inactive-accounts.csv?' in html
    bad = client.get("/reports/inactive-accounts", {"days": "x"})
    assert "nhsuk-error-summary" in bad.content.decode()
    assert client.get("/reports/no-such-report").status_code == 404
    # The targeted audit asks for a person or organisation first, and reads nothing until given one.
    before = ledger_size()
    assert "Show report" in client.get("/reports/targeted-audit").content.decode()
    assert ledger_size() == before


@pytest.mark.django_db
def test_csv_download_is_streamed_with_every_row(client, world):
    sign_in(client, world.manager)
    before = ledger_size()
    response = client.get("/reports/people-positions.csv", {"organisation": "GPA01", "include_ended": "yes"})
    assert response.status_code == 200 and response.streaming
    assert response["Content-Type"].startswith("text/csv")
    table = list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode())))
    assert table[0] == [h for _, h in selectors.get("people-positions").columns]
    assert [r[5] for r in table[1:]] == ["Cole", "Abbott", "Brown", "Dale"]
    assert table[4][7]  # Dale's end date
    assert ledger_size() == before + 1 and Entry.objects.get(index=before).after.count('"format":"csv"') == 1


@pytest.mark.django_db
def test_pages_refuse_people_without_the_right(client, world):
    assert client.get("/reports/").url.startswith("/sign-in?next=")
    sign_in(client, world.agent)
    assert client.get("/reports/").status_code == 403
    assert client.get("/reports/people-positions.csv").status_code == 403


@pytest.mark.django_db
def test_sponsor_page_is_scoped_and_cannot_read_the_ledger(client, world):
    sign_in(client, world.sponsor)
    html = client.get("/reports/people-positions").content.decode()
    assert "PHA01" in html and world.ann.uid not in html
    assert client.get("/reports/people-positions", {"organisation": "GPA01"}).status_code == 403
    assert client.get("/reports/targeted-audit", {"person": world.ann.uid}).status_code == 403
    assert 'href="/reports/targeted-audit"' not in client.get("/reports/").content.decode()


@pytest.mark.django_db
def test_cli_prints_a_report_and_writes_csv(world, tmp_path):
    out = io.StringIO()
    call_command("report", "sponsors-agents", "-p", "flagged_only=yes", stdout=out, stderr=io.StringIO())
    text = out.getvalue()
    assert "GPA01" in text and "PHA03" in text and "PHA02" not in text
    target = tmp_path / "people.csv"
    before = ledger_size()
    call_command("report", "people-positions", "--csv", str(target), "--as", world.manager.person_uid,
                 "-p", "organisation=GPA01", stdout=io.StringIO(), stderr=io.StringIO())
    lines = target.read_text().splitlines()
    assert len(lines) == 4 and lines[0].startswith("Organisation,")
    assert ledger_size() == before + 1
    from django.core.management.base import CommandError

    with pytest.raises(CommandError, match="no parameter"):
        call_command("report", "people-positions", "-p", "colour=red", stdout=io.StringIO())
    with pytest.raises(CommandError, match="no report"):
        call_command("report", "nonsense", stdout=io.StringIO())
    with pytest.raises(CommandError, match="may not"):
        call_command("report", "people-positions", "--as", world.agent.person_uid, stdout=io.StringIO())


def test_csv_cells_neutralise_formulas():
    from careaccess.reports.export import cell

    assert cell("=HYPERLINK(1)") == "'=HYPERLINK(1)" and cell("-3") == "-3" and cell(None) == ""
    assert cell(dt.date(2026, 6, 1)) == "2026-06-01"


@pytest.mark.django_db
def test_review_completion_rule_pp6(world, clock):
    from careaccess.lifecycle.models import Campaign, CampaignItem

    now, today = clock.now(), clock.today()

    def campaign(org, due_days, state="open"):
        return Campaign.objects.create(service=world.service, organisation=org, reviewer=None, opens_on=today,
                                       due_on=today + dt.timedelta(days=due_days), state=state, created_at=now)

    gp, p1 = campaign(world.gp, 10), campaign(world.p1, 5)
    campaign(world.p2, 1, state="closed")
    campaign(world.other, 2)  # outside RA1
    decisions = [("keep", world.ann), ("revoke", world.bob), ("", world.cat), ("", world.dan)]
    for decision, person in decisions:
        CampaignItem.objects.create(campaign=gp, kind="account", person=person, decision=decision,
                                    decided_at=now - dt.timedelta(days=1) if decision else None,
                                    escalated_at=now if person == world.dan else None)
    found = rows(world.manager, "review-completion")
    assert [r["organisation_code"] for r in found] == ["PHA01", "GPA01"]  # soonest due first; closed left out
    assert found[0]["item_count"] == 0 and found[0]["percent_done"] == 100
    assert {k: found[1][k] for k in ("item_count", "kept", "revoked", "undecided", "escalated", "percent_done")} == {
        "item_count": 4, "kept": 1, "revoked": 1, "undecided": 2, "escalated": 1, "percent_done": 50}
    assert len(rows(world.manager, "review-completion", include_closed="yes")) == 3
    assert [r["organisation_code"] for r in rows(world.sponsor, "review-completion")] == ["PHA01"]
    assert sum(n for _, n in run(world.manager, "review-completion").chart) == 2
    assert p1.pk


@pytest.mark.django_db
def test_targeted_audit_as_csv_is_one_ledger_search(client, world):
    sign_in(client, world.auditor)
    before = ledger_size()
    response = client.get("/reports/targeted-audit.csv", {"person": world.ann.uid})
    table = list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode())))
    assert table[0][:3] == ["Entry", "Recorded", "Kind"] and "person.created" in {r[2] for r in table[1:]}
    assert ledger_size() == before + 1 and Entry.objects.get(index=before).action == "audit.searched"
    assert client.get("/reports/targeted-audit.csv").status_code == 400  # a person or organisation is needed
