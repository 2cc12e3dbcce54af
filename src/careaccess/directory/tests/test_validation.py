"""The directory's field cleaners that other apps share (rule PP2: named individuals' addresses)."""

import pytest

from careaccess.directory import validation


@pytest.mark.parametrize("email", ["info@x.org", "admin@x.org", "office@x.org", "enquiries@x.org", "reception@x.org",
                                   "Reception1@x.org", "team.2@x.org", "no-reply@x.org", "office-2@x.org"])
def test_generic_addresses(email):
    # rule PP2
    assert "generic or shared" in validation.generic_email_problem(email)


@pytest.mark.parametrize("email", ["jane.smith@x.org", "j.smith2@x.org", "information.governance.lead@x.org"])
def test_named_addresses(email):
    assert validation.generic_email_problem(email) is None


def test_named_email_cleaner_says_how_to_fix_a_shared_address():
    # rule PP2
    with pytest.raises(ValueError, match="named person"):
        validation.named_email("Info@Example.org")
    assert validation.named_email(" Jane.Smith@Example.org ") == "jane.smith@example.org"
