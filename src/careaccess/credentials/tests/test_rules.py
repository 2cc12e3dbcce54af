"""Pure smartcard rules: PINs, serials, renewal windows (DS11, DS13), locums (DS15), card-only (DS18)."""

import datetime as dt

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from careaccess.credentials import rules

NOW = dt.datetime(2026, 6, 1, 9, 0, tzinfo=dt.timezone.utc)
COMMON = {"series": "06", "renewals": 0, "non_renewable": ("01", "02", "03"), "max_renewals": 3}


@settings(deadline=None, derandomize=True)
@given(st.text(alphabet="0123456789", min_size=6, max_size=8))
def test_every_six_to_eight_digit_pin_is_accepted(pin):
    rules.check_pin(pin, 6, 8)


@settings(deadline=None, derandomize=True)
@given(st.text(min_size=0, max_size=12).filter(lambda p: not (p.isascii() and p.isdigit() and 6 <= len(p) <= 8)))
def test_anything_else_is_refused(pin):
    with pytest.raises(ValueError, match="6 to 8 digits"):
        rules.check_pin(pin, 6, 8)


def test_serials_and_series():
    assert rules.check_serial("06 1234 5678") == "0612345678"
    assert rules.series_of("0312345678") == "03"
    with pytest.raises(ValueError):
        rules.check_serial("AB12345678")


def test_self_renewal_window_edges():
    # rule DS13: in the 90 days before expiry
    not_after = NOW + dt.timedelta(days=90)
    assert rules.self_renewal_refusal(not_after=not_after, now=NOW, window_days=90, **COMMON) is None
    early = rules.self_renewal_refusal(not_after=not_after + dt.timedelta(seconds=1), now=NOW, window_days=90, **COMMON)
    assert early.startswith("too early")
    expired = rules.self_renewal_refusal(not_after=NOW, now=NOW, window_days=90, **COMMON)
    assert "repairs the card" in expired


@pytest.mark.parametrize("series", ["01", "02", "03"])
def test_old_series_never_renew(series):
    # rule DS11
    common = {**COMMON, "series": series}
    assert "DS11" in rules.assisted_renewal_refusal(not_after=NOW + dt.timedelta(days=10), now=NOW, **common)
    assert "DS11" in rules.repair_refusal(not_after=NOW - dt.timedelta(days=10), now=NOW, **common)


def test_three_renewals_at_most():
    # rule DS13
    assert rules.renewal_refusal(not_after=NOW, now=NOW, **{**COMMON, "renewals": 2}) is None
    assert "DS13" in rules.renewal_refusal(not_after=NOW, now=NOW, **{**COMMON, "renewals": 3})


def test_locums():
    # rule DS15: a locum's position at a site is temporary
    assert rules.is_locum(dt.date(2026, 7, 1), "Pharmacist")
    assert rules.is_locum(None, "Locum Pharmacist")
    assert not rules.is_locum(None, "Pharmacist")


def test_card_only_services_have_no_fall_back():
    # rule DS18: no card, no access
    assert rules.sign_in_methods(True) == ("card",)
    assert "DS18" in rules.sign_in_refusal("password", card_only=True)
    assert rules.sign_in_refusal("password", card_only=False) is None
    assert rules.sign_in_refusal("card", card_only=True) is None
    assert "unknown" in rules.sign_in_refusal("carrier pigeon", card_only=False)
