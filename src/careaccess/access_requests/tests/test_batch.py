"""Batches (SC11, CC7): a CSV checked row by row, every bad row reported before anything is
created, then raised in one transaction as requests that move together; the CLI."""

import io

import pytest
from django.core.management import CommandError, call_command

from careaccess.access_requests import rules, services
from careaccess.access_requests.models import AccessRequest, Batch
from careaccess.access_requests.tests.conftest import CONFIRMED, ledger_size
from careaccess.core.errors import InvalidInput
from careaccess.directory.models import Account, Person

pytestmark = pytest.mark.django_db

HEADER = "Title,Given name,Family name,Date of birth,NI number,Email,Phone,Position,Service role,Note\n"


def intake(n: int, start: int = 1) -> str:
    lines = [f"Dr,Doc,Tor{chr(96 + i)},1990-01-{i:02d},JK{i:06d}A,doc.tor{i}@example.nhs.uk,0113 496 00{i:02d},"
             f"Clinician,care-professional,August intake" for i in range(start, start + n)]
    return HEADER + "\n".join(lines) + "\n"


def test_parsing_matches_headers_loosely_and_refuses_unknown_columns():
    rows = rules.parse_batch_csv("\ufeffGiven Name, family-name ,kind\nAl,Bee,\n\n")
    assert rows == [{"given_name": "Al", "family_name": "Bee"}]
    with pytest.raises(ValueError, match="unknown columns Shoe size"):
        rules.parse_batch_csv("given_name,Shoe size\nA,9\n")
    with pytest.raises(ValueError, match="empty"):
        rules.parse_batch_csv("")


def test_every_bad_row_is_reported_and_nothing_is_created(world):
    # rule SC11: validated row by row before anything is created
    text = intake(3) + "Mr,,Nobody,2990-01-01,XX,info@example.org,1,Nowhere,care-professional,\n"
    text += "Dr,Doc,Twin,1990-02-02,JK000001A,doc.twin@example.nhs.uk,0113 496 0000,Clinician,care-professional,\n"
    rows = rules.parse_batch_csv(text)
    size, requests = ledger_size(), AccessRequest.objects.count()
    with pytest.raises(services.BatchInvalid) as refused:
        services.import_batch(world.gp.requester, world.gp.organisation, world.service, rows)
    assert sorted(refused.value.rows) == [4, 5]
    assert {"given_name", "date_of_birth", "ni_number", "email", "phone", "position"} <= set(refused.value.rows[4])
    assert "row 1" in refused.value.rows[5]["ni_number"]  # the same person twice
    assert "row 4: email" in refused.value.errors
    assert ledger_size() == size and AccessRequest.objects.count() == requests and not Batch.objects.exists()


def test_an_intake_moves_together_through_every_step(world):
    # rules SC11, CC7: a new doctors' intake as one batch
    site = world.gp
    rows = rules.parse_batch_csv(intake(5))
    ticks = []
    batch = services.import_batch(site.requester, site.organisation, world.service, rows, filename="intake.csv",
                                  progress=ticks.append)
    assert len(ticks) == 5
    requests = list(batch.requests.all())
    assert len(requests) == 5 and {r.state for r in requests} == {"submitted"}
    assert {r.note for r in requests} == {"August intake"}
    services.transition_batch(site.validator, batch, "validate")
    services.transition_batch(site.approver, batch, "approve", confirmations=CONFIRMED)
    services.transition_batch(world.fulfiller, batch, "fulfil")
    assert set(batch.requests.values_list("state", flat=True)) == {"fulfilled"}
    assert Account.objects.filter(person__ni_number__startswith="JK").count() == 5


def test_a_batch_step_is_all_or_none(world):
    site = world.gp
    batch = services.import_batch(site.requester, site.organisation, world.service, rules.parse_batch_csv(intake(3)))
    services.transition_batch(site.validator, batch, "validate")
    services.transition_batch(site.approver, batch, "approve", confirmations=CONFIRMED)
    # the third person registers meanwhile by another route: fulfilling the batch must change nothing
    last = batch.requests.order_by("id").last()
    Person.objects.create(uid="999999999999", given_name="X", family_name="Y", ni_number=last.details["ni_number"],
                          created_at=last.created_at, updated_at=last.created_at)
    size, people = ledger_size(), Person.objects.count()
    with pytest.raises(Exception):
        services.transition_batch(world.fulfiller, batch, "fulfil")
    assert ledger_size() == size and Person.objects.count() == people
    assert set(batch.requests.values_list("state", flat=True)) == {"approved"}


def test_a_batch_needs_rows_and_known_actions(world):
    with pytest.raises(InvalidInput, match="no rows"):
        services.import_batch(world.gp.requester, world.gp.organisation, world.service, [])
    batch = services.import_batch(world.gp.requester, world.gp.organisation, world.service,
                                  rules.parse_batch_csv(intake(1)))
    with pytest.raises(InvalidInput, match="choose one of"):
        services.transition_batch(world.gp.validator, batch, "explode")


def test_the_cli_imports_with_a_progress_bar(world, tmp_path):
    path = tmp_path / "intake.csv"
    path.write_text(intake(4))
    out, err = io.StringIO(), io.StringIO()
    call_command("requests", "import", str(path), "--organisation", "b86001", "--service", "connecting-care",
                 "--as", world.gp.requester.person_uid, stdout=out, stderr=err)
    assert "4 requests raised" in out.getvalue()
    assert "raising requests" in err.getvalue() and "4/4" in err.getvalue()
    batch = Batch.objects.get()
    assert batch.filename == "intake.csv" and batch.requests.filter(state="submitted").count() == 4


def test_the_cli_reports_bad_rows_and_creates_nothing(world, tmp_path):
    path = tmp_path / "intake.csv"
    path.write_text(intake(2) + "Dr,,Gap,1990-01-01,JK000099A,gap@example.nhs.uk,0113 496 0099,Clinician,"
                                "care-professional,\n")
    out = io.StringIO()
    with pytest.raises(CommandError, match="1 of 3 rows are wrong; nothing was created"):
        call_command("requests", "import", str(path), "--organisation", "B86001", "--service", "connecting-care",
                     stdout=out, stderr=io.StringIO())
    assert "given_name" in out.getvalue() and not AccessRequest.objects.exists()


def test_the_cli_refuses_unknown_organisations_and_files(world, tmp_path):
    with pytest.raises(CommandError, match="no organisation"):
        call_command("requests", "import", "x.csv", "--organisation", "NOPE1", stdout=io.StringIO())
    with pytest.raises(CommandError, match="cannot read"):
        call_command("requests", "import", str(tmp_path / "missing.csv"), "--organisation", "B86001",
                     stdout=io.StringIO())


def test_the_cli_lists_a_queue(world):
    services.import_batch(world.gp.requester, world.gp.organisation, world.service, rules.parse_batch_csv(intake(2)))
    out = io.StringIO()
    call_command("requests", "list", stdout=out)
    assert out.getvalue().count("Connecting Care starter Doc Tor") == 2
