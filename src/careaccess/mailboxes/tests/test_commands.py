"""`careaccess mailboxes ...` from the console."""

from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from careaccess.mailboxes import services

from .conftest import PDF, application_data


def run(*args) -> str:
    out = StringIO()
    call_command("mailboxes", *args, stdout=out)
    return out.getvalue()


def test_list_assess_approve_search_and_reset(world):
    app = services.submit_application(application_data(), services.Report("r.pdf", PDF))
    admin = world.admin.person_uid
    assert app.reference in run("list", "--as", admin)
    assert app.reference not in run("list", "--as", world.other_admin.person_uid)
    with pytest.raises(CommandError):
        run("approve", app.reference, "--as", world.other_admin.person_uid)
    assert "matches VN123" in run("assess", app.reference, "--ig-toolkit-checked", "--as", admin)
    out = run("approve", app.reference, "--as", admin)
    assert "zoe.obrien@mail.example.org" in out and "qwoicb.roselodgeleeds@mail.example.org" in out
    assert "jo.bloggs@mail.example.org" in run("search", "--name", "jo")
    assert "new temporary password" in run("reset-password", "jo.bloggs@mail.example.org", "--as", admin)
    with pytest.raises(CommandError, match="no mailbox"):
        run("reset-password", "nobody@mail.example.org")
