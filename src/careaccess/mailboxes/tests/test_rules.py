"""Pure naming and limit rules (NM4, NM8, NM9), with property tests."""

import string

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from careaccess.mailboxes import rules

HYPOTHESIS = settings(max_examples=200, deadline=None, derandomize=True,
                      suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])
DOMAIN = "mail.example.org"


def _usable(name: str) -> bool:
    try:
        rules.address_part(name)
        return True
    except ValueError:
        return False


names = st.text(alphabet=st.characters(codec="utf-8", exclude_categories=("Cs",)), min_size=1, max_size=40).filter(_usable)
nice_names = st.text(alphabet="abcdéèüößøÀÉ'’- ", min_size=1, max_size=25).filter(_usable)


# rule NM8: firstname.lastname@domain, accents, apostrophes and hyphens normalised
@pytest.mark.parametrize("first,last,expected", [
    ("Jo", "Bloggs", "jo.bloggs"),
    ("Zoë", "O'Brien", "zoe.obrien"),
    ("Seán", "Ó Súilleabháin", "sean.o-suilleabhain"),
    ("Anne-Marie", "Smith - Jones", "anne-marie.smith-jones"),
    ("Mary  Ann", "de la Cruz", "mary-ann.de-la-cruz"),
    ("Jürgen", "Weiß", "jurgen.weiss"),
    ("Søren", "Łukasz", "soren.lukasz"),
    ("D’Arcy", "McDonald", "darcy.mcdonald"),
])
def test_nm8_address_normalises_names(first, last, expected):
    assert rules.user_address(first, last, DOMAIN, set()) == f"{expected}@{DOMAIN}"


def test_nm8_address_made_unique_when_taken():
    taken = {f"jo.bloggs@{DOMAIN}", f"jo.bloggs1@{DOMAIN}"}
    assert rules.user_address("Jo", "Bloggs", DOMAIN, taken) == f"jo.bloggs2@{DOMAIN}"


def test_nm8_display_name_derived_from_first_and_last():
    assert rules.display_name(" Zoë ", "O'Brien") == "Zoë O'Brien"


@pytest.mark.parametrize("value", ["", "   ", "J0hn", "<script>", "Jo_Bloggs", "@@@", "x" * 101, "中"])
def test_nm8_bad_names_refused(value):
    # "中" has letters but none that fold to A-Z: there would be no address.
    with pytest.raises(ValueError):
        rules.clean_person_name(value)


@pytest.mark.parametrize("value", ["", "M4", "Dr<", "x" * 21])
def test_nm8_title_is_mandatory_and_plain(value):
    with pytest.raises(ValueError):
        rules.clean_title(value)


@HYPOTHESIS
@given(st.lists(st.tuples(names, names), min_size=1, max_size=25))
def test_nm8_every_generated_address_is_valid_and_unique(people):
    taken: set[str] = set()
    for first, last in people:
        address = rules.user_address(first, last, DOMAIN, taken)
        assert rules.is_valid_user_address(address, DOMAIN), address
        assert address not in taken
        assert address == address.lower() and address.isascii()
        taken.add(address)
    assert len(taken) == len(people)


@HYPOTHESIS
@given(nice_names, nice_names)
def test_nm8_same_name_twice_gives_two_addresses(first, last):
    one = rules.user_address(first, last, DOMAIN, set())
    two = rules.user_address(first, last, DOMAIN, {one})
    assert one != two and rules.is_valid_user_address(two, DOMAIN)


# rule NM9: shared mailbox display names and addresses
@pytest.mark.parametrize("value", ["", "Rose Lodge", "Referrals2", "Rose-Lodge", "Róse", "A" * 30, "Rose_Lodge", "Rose!"])
def test_nm9_bad_display_names_refused(value):
    with pytest.raises(ValueError):
        rules.check_shared_display_name(value)


def test_nm9_good_display_name_accepted():
    assert rules.check_shared_display_name("RoseLodgeReferrals") == "RoseLodgeReferrals"
    assert rules.check_shared_display_name("A" * 29) == "A" * 29


@HYPOTHESIS
@given(st.text(max_size=40))
def test_nm9_every_accepted_display_name_satisfies_the_rule(value):
    try:
        accepted = rules.check_shared_display_name(value)
    except ValueError:
        return
    assert 0 < len(accepted) < 30
    assert all(ch in string.ascii_letters for ch in accepted)  # no specials, digits or spaces


@HYPOTHESIS
@given(st.text(max_size=60))
def test_nm9_suggested_display_names_are_always_accepted(preferred):
    assert rules.check_shared_display_name(rules.suggest_shared_display_name(preferred))


def test_nm9_address_has_fixed_prefix_and_location():
    assert rules.shared_address("XYZ CCG", "Care Home Name", "Leeds", DOMAIN) == f"xyzccg.carehomenameleeds@{DOMAIN}"
    east = rules.shared_address("XYZ", "Rose Lodge", "London East", DOMAIN)
    west = rules.shared_address("XYZ", "Rose Lodge", "London West", DOMAIN)
    assert east != west and east.startswith("xyz.") and west.startswith("xyz.")


@pytest.mark.parametrize("sponsor,home,location", [("", "Rose", "Leeds"), ("XYZ", "123", "Leeds"), ("XYZ", "Rose", "42"),
                                                   ("XYZ", "Rose", "x" * 70)])
def test_nm9_address_refused_without_parts(sponsor, home, location):
    with pytest.raises(ValueError):
        rules.shared_address(sponsor, home, location, DOMAIN)


@HYPOTHESIS
@given(st.text(min_size=1, max_size=20), st.text(max_size=80), st.text(max_size=30))
def test_nm9_every_generated_shared_address_is_valid(sponsor, home, location):
    try:
        address = rules.shared_address(sponsor, home, location, DOMAIN)
    except ValueError:
        return
    assert rules.is_valid_shared_address(address, DOMAIN), address
    prefix = "".join(ch for ch in rules.fold(sponsor) if ch.isalnum())
    assert address.startswith(prefix + ".")
    assert address.split("@")[0].endswith(rules.shared_word(location))


# rule NM4
@pytest.mark.parametrize("asked,accepted,given_", [
    ((3, 1), False, (3, 1)), ((2, 0), False, (2, 0)), ((5, 0), False, (4, 0)), ((4, 1), False, (3, 1)),
    ((3, 2), False, (3, 1)), ((6, 2), False, (3, 1)), ((6, 2), True, (6, 2)), ((4, 0), False, (4, 0)),
])
def test_nm4_limits(asked, accepted, given_):
    assert rules.allowed_counts(*asked, justification_accepted=accepted) == given_


@HYPOTHESIS
@given(st.integers(0, 20), st.integers(0, 5))
def test_nm4_never_more_than_four_without_justification(individual, shared):
    got_i, got_s = rules.allowed_counts(individual, shared, justification_accepted=False)
    assert got_i <= individual and got_s <= shared and got_s <= 1 and got_i + got_s <= 4


@pytest.mark.parametrize("value", ["0113 496 0000", "07700 90012", "+1 555 0100", "mobile"])
def test_nm1_bad_mobiles_refused(value):
    with pytest.raises(ValueError):
        rules.clean_mobile(value)


@pytest.mark.parametrize("value", ["", "LS1", "12345", "LS1 4AP 9"])
def test_nm1_bad_postcodes_refused(value):
    with pytest.raises(ValueError):
        rules.clean_postcode(value)


def test_pp2_generic_addresses_recognised():
    assert rules.is_generic_email("info@rose.example") and rules.is_generic_email("reception2@rose.example")
    assert not rules.is_generic_email("jo.bloggs@rose.example")


def test_nm8_temporary_passwords_are_strong_and_different():
    seen = {rules.temporary_password() for _ in range(50)}
    assert len(seen) == 50 and all(len(p) == 16 for p in seen)
