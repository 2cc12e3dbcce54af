"""Pure directory rules (no database)."""

import pytest
from hypothesis import given
from hypothesis import strategies as st

from careaccess.directory import rules


@pytest.mark.parametrize("value", ["AB123456C", "ab 12 34 56 c", " JG 10 32 45 A ", "CE123456D"])
def test_valid_ni_numbers_are_normalised(value):
    assert rules.normalise_ni_number(value) == value.replace(" ", "").strip().upper()


@pytest.mark.parametrize(
    "value",
    ["", "AB123456", "AB123456E", "DA123456A", "AO123456A", "BG123456A", "GB123456A", "NK123456A",
     "TN123456A", "ZZ123456A", "A1234567A", "QQ123456C", "AB12345C"],
)
def test_invalid_ni_numbers_say_how_to_fix(value):
    with pytest.raises(ValueError, match="two letters, six digits and a letter from A to D"):
        rules.normalise_ni_number(value)


def test_job_role_and_activity_codes():
    assert rules.check_job_role_code("s8000:g8000:r8000") == "S8000:G8000:R8000"
    assert rules.check_job_role_code("R5080") == "R5080"
    assert rules.check_activity_code("b0820") == "B0820"
    for bad in ("S8000:R8000", "G8000", "8000"):
        with pytest.raises(ValueError):
            rules.check_job_role_code(bad)
    for bad in ("B82", "C0820", "B08200"):
        with pytest.raises(ValueError):
            rules.check_activity_code(bad)


def test_cqc_numbers_and_phones():
    assert rules.normalise_cqc_number("1-123456789") == "1-123456789"
    for bad in ("123456789", "1-12", "2-123456789", "1-12345678901234"):
        with pytest.raises(ValueError, match="1- followed by"):
            rules.normalise_cqc_number(bad)
    assert rules.normalise_phone("0113 496 0000") == "01134960000"
    assert rules.normalise_phone("+44 (113) 496-0000") == "+441134960000"
    with pytest.raises(ValueError):
        rules.normalise_phone("12345")


@given(st.integers(min_value=0, max_value=200))
def test_user_ids_are_twelve_digits_never_leading_zero(_):
    uid = rules.new_user_id()
    assert rules.is_user_id(uid) and len(uid) == 12 and uid[0] != "0"


def test_activity_inclusion_is_transitive_and_survives_cycles():
    edges = {"B0825": {"B0820"}, "B0820": {"B0001"}, "B0001": {"B0825"}}
    assert rules.includes_closure({"B0825"}, edges) == {"B0825", "B0820", "B0001"}
    assert rules.includes_closure({"B0360"}, edges) == {"B0360"}


@given(st.sets(st.sampled_from(["A", "B", "C", "D"])), st.dictionaries(
    st.sampled_from(["A", "B", "C", "D"]), st.sets(st.sampled_from(["A", "B", "C", "D"]))))
def test_closure_contains_its_input_and_is_idempotent(codes, edges):
    closure = rules.includes_closure(codes, edges)
    assert codes <= closure
    assert rules.includes_closure(closure, edges) == closure
