"""Pure identity rules (DS7), exhaustively."""

import datetime as dt

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from careaccess.identity import rules

TODAY = dt.date(2026, 6, 1)


def test_driving_licence_numbers_are_in_capitals():
    # rule DS7: driving licence numbers in capitals
    assert rules.normalise_document_number("photocard_driving_licence", "morga657054sm9ij") == "MORGA657054SM9IJ"
    assert rules.normalise_document_number("passport", " 123456789 ") == "123456789"


@pytest.mark.parametrize("number", ["", "a", "!!!!", "x" * 41])
def test_document_numbers_must_look_like_numbers(number):
    with pytest.raises(ValueError):
        rules.normalise_document_number("passport", number)


def test_countries_are_two_letter_codes():
    assert rules.normalise_country(" gb ") == "GB"
    for bad in ("", "GBR", "G1", None):
        with pytest.raises(ValueError, match="two-letter"):
            rules.normalise_country(bad)


def test_expired_documents_are_refused():
    rules.check_document_expiry("passport", TODAY, TODAY)
    with pytest.raises(ValueError, match="expired on 2026-05-31"):
        rules.check_document_expiry("passport", TODAY - dt.timedelta(days=1), TODAY)
    with pytest.raises(ValueError, match="expiry date"):
        rules.check_document_expiry("passport", None, TODAY)
    rules.check_document_expiry("birth_certificate", None, TODAY)


def test_proof_of_address_within_three_months():
    # rule DS7: dated within the last 3 months
    rules.check_address_proof_date(dt.date(2026, 3, 1), TODAY, 3)
    with pytest.raises(ValueError, match="more than 3 months ago"):
        rules.check_address_proof_date(dt.date(2026, 2, 28), TODAY, 3)
    with pytest.raises(ValueError, match="future"):
        rules.check_address_proof_date(TODAY + dt.timedelta(days=1), TODAY, 3)


@pytest.mark.parametrize("issuer", ["", "utility bill", "Bank statement", "  "])
def test_the_issuer_is_named_not_a_kind_of_document(issuer):
    with pytest.raises(ValueError):
        rules.check_address_issuer(issuer)
    assert rules.check_address_issuer(" Wessex  Water ") == "Wessex Water"


@settings(deadline=None, derandomize=True)
@given(st.dates(min_value=dt.date(1901, 1, 1), max_value=dt.date(2200, 12, 31)), st.integers(0, 24))
def test_months_before_is_never_later_and_about_right(day, months):
    earlier = rules.months_before(day, months)
    assert earlier <= day
    assert (day.year * 12 + day.month) - (earlier.year * 12 + earlier.month) == months
    assert earlier.day <= day.day


def test_assurance_levels():
    assert rules.assurance_level("passport", True) == rules.LEVEL_HIGH
    assert rules.assurance_level("photocard_driving_licence", False) == rules.LEVEL_SUBSTANTIAL
    assert rules.assurance_level("birth_certificate", True) == rules.LEVEL_LOW
