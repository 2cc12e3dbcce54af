"""The audit search's date boxes: a part typed wrong is named before a part left out
(/audit/?from_day=abc said the month and year were missing, not that the day was wrong)."""

import pytest

from careaccess.core.audit.views import SearchForm


def errors(**data):
    form = SearchForm(data=data)
    assert not form.is_valid()
    return {name: list(messages) for name, messages in form.errors.items()}


def test_a_day_that_is_not_a_number_is_named():
    assert errors(from_day="abc") == {"from_day": ["From date must be a real date: enter the day as a number from "
                                                   "1 to 31, like 15"]}


@pytest.mark.parametrize("data, field, words", [
    ({"to_month": "13", "to_year": "2026"}, "to_month", "the month as a number from 1 to 12"),
    ({"from_day": "1", "from_month": "6", "from_year": "26"}, "from_year", "the year as 4 digits"),
    ({"from_day": "0", "from_month": "x"}, "from_day", "the day as a number from 1 to 31, like 15 and the month"),
])
def test_each_wrong_part_is_named(data, field, words):
    found = errors(**data)
    assert list(found) == [field] and words in found[field][0]


def test_a_part_left_out_is_still_said_when_the_rest_is_right():
    assert errors(from_day="3") == {"from_month": ["From date must include a month and a year"]}
    assert errors(from_day="31", from_month="2", from_year="2026") == {"from_day": ["From date must be a real date"]}
