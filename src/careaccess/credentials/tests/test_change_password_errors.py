"""Changing one's own password (DS2) reports every problem at once, each on its field."""

import pytest

from careaccess.core.audit.models import Head
from careaccess.core.context import Actor
from careaccess.core.errors import InvalidInput
from careaccess.credentials import selfservice

from .test_selfservice import _quick_hashes, una  # noqa: F401 (fixtures)
from careaccess.web.tests.conftest import PASSWORD, sign_in


def actor(person):
    return Actor(kind="person", label="Una", person_id=person.pk, person_uid=person.uid)


def refused(person, **fields):
    with pytest.raises(InvalidInput) as error:
        selfservice.change_password(actor(person), **{"current_password": "", "new_password": "", "confirm": "",
                                                      **fields})
    return error.value.errors


def test_empty_fields_are_each_named(una):
    size = Head.objects.size()
    assert refused(una) == {"current_password": "Enter your current password.",
                            "new_password": "Enter a new password.",
                            "confirm_password": "Type the new password again."}
    assert Head.objects.size() == size


def test_a_short_new_password_and_a_mismatch_are_both_reported(una):
    errors = refused(una, current_password="wrong one", new_password="short", confirm="other")
    assert set(errors) == {"current_password", "new_password", "confirm_password"}
    assert "too short" in errors["new_password"] and "do not match" in errors["confirm_password"]
    errors = refused(una, current_password=PASSWORD, new_password="short", confirm="other")
    assert set(errors) == {"new_password", "confirm_password"}
    una.user.refresh_from_db()
    assert una.user.check_password(PASSWORD)


def test_the_page_lists_every_problem_in_the_error_summary(client, una):
    sign_in(client, una.uid)
    page = client.post("/account/password", {"current_password": "", "new_password": "short",
                                              "confirm_password": "other"}).content.decode()
    summary = page[page.index("nhsuk-error-summary"):]
    for anchor in ("#current_password", "#new_password", "#confirm_password"):
        assert f'href="{anchor}"' in summary
