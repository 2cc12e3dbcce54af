"""The pure rules: the state machine, titles, SLA dates, email checks, usernames."""

import datetime as dt

import pytest
from hypothesis import given
from hypothesis import strategies as st

from careaccess.access_requests import rules
from careaccess.access_requests.rules import Action, State


def test_the_happy_path():
    state = State.DRAFT
    for action in (Action.SUBMIT, Action.VALIDATE, Action.APPROVE, Action.FULFIL):
        state = rules.next_state(state, action)
    assert state == State.FULFILLED


@pytest.mark.parametrize("state", sorted(rules.FINAL_STATES))
def test_final_states_allow_nothing(state):
    assert rules.allowed_actions(state) == []
    for action in rules.ACTIONS:
        with pytest.raises(rules.IllegalTransition, match="nothing more can be done"):
            rules.next_state(state, action)


@given(st.sampled_from(rules.STATES), st.sampled_from(rules.ACTIONS), st.sampled_from(sorted(rules.PAUSABLE)))
def test_every_pair_is_either_in_the_table_or_refused(state, action, paused_in):
    if (state, action) in rules.TRANSITIONS:
        assert rules.next_state(state, action, paused_in) in rules.STATES
    else:
        with pytest.raises(rules.IllegalTransition):
            rules.next_state(state, action, paused_in)


@pytest.mark.parametrize("paused_in", sorted(rules.PAUSABLE))
def test_more_information_returns_to_where_it_was(paused_in):
    # rule CC10
    paused = rules.next_state(paused_in, Action.REQUEST_INFORMATION)
    assert paused == State.INFORMATION_REQUESTED
    assert rules.next_state(paused, Action.PROVIDE_INFORMATION, paused_in) == paused_in


def test_nothing_skips_a_step():
    assert (State.SUBMITTED, Action.APPROVE) not in rules.TRANSITIONS
    assert (State.VALIDATED, Action.FULFIL) not in rules.TRANSITIONS
    assert (State.SUBMITTED, Action.FULFIL) not in rules.TRANSITIONS
    with pytest.raises(rules.IllegalTransition, match="cannot be approved; it can now be: validate"):
        rules.next_state(State.SUBMITTED, Action.APPROVE)


def test_unknown_action():
    with pytest.raises(rules.IllegalTransition, match="not an action"):
        rules.next_state(State.DRAFT, "teleport")


def test_reasons_are_required_for_rejections():
    assert Action.REJECT in rules.REASON_REQUIRED


@pytest.mark.parametrize("kind,word", [("new_user", "starter"), ("deletion", "leaver"), ("position_removal", "leaver"),
                                       ("amendment", "change"), ("reactivation", "change"), ("change_of_name", "change")])
def test_titles(kind, word):
    # rule CC5
    assert rules.title("Connecting Care", kind, "Jane  Smith") == f"Connecting Care {word} Jane Smith"
    # about no service account: the kind in words, never a placeholder service name
    assert rules.title(None, kind, "Jane  Smith") == f"{rules.KIND_LABELS[kind]}: Jane Smith"


def test_routes_and_who_validates():
    # rules CC1, CC6
    assert rules.route(True) == rules.DESK and rules.route(False) == rules.AUTHORISER
    assert rules.validator_capabilities(True, True, "authoriser") == {"service_desk"}
    assert "sponsor" in rules.validator_capabilities(False, True, "authoriser")
    assert "sponsor" not in rules.validator_capabilities(False, False, "authoriser")
    assert rules.approver_capabilities("authoriser", True) == {"authoriser", "sponsor"}
    assert rules.approver_capabilities("authoriser", False) == {"authoriser"}
    assert rules.approver_capabilities("lead_correspondent", False) == {"lead_correspondent"}


def test_working_days_skip_weekends():
    # rule CC7: 5 working days from Friday 5 June 2026 is Friday 12 June
    friday = dt.date(2026, 6, 5)
    assert rules.add_days(friday, 5, working_days=True) == dt.date(2026, 6, 12)
    assert rules.add_days(friday, 5, working_days=False) == dt.date(2026, 6, 10)
    assert rules.add_days(dt.date(2026, 6, 6), 1, working_days=True) == dt.date(2026, 6, 8)  # Saturday -> Monday


@given(st.dates(min_value=dt.date(2000, 1, 1), max_value=dt.date(2100, 1, 1)), st.integers(min_value=1, max_value=60))
def test_working_days_land_on_a_weekday_and_count_exactly(start, days):
    due = rules.add_days(start, days, working_days=True)
    assert due.weekday() < 5
    weekdays = sum(1 for n in range(1, (due - start).days + 1) if (start + dt.timedelta(n)).weekday() < 5)
    assert weekdays == days


def test_overdue_only_with_the_back_office():
    due = dt.date(2026, 6, 8)
    assert rules.is_overdue(State.APPROVED, due, dt.date(2026, 6, 9))
    assert not rules.is_overdue(State.APPROVED, due, due)
    assert not rules.is_overdue(State.FULFILLED, due, dt.date(2026, 7, 1))


def test_usernames_are_unique():
    assert rules.username_for("Jane", "O'Brien", set()) == "jane.obrien"
    assert rules.username_for("Jane", "Smith", {"jane.smith", "jane.smith2"}) == "jane.smith3"


def test_temporary_passwords_mix_kinds():
    for _ in range(50):
        password = rules.temporary_password()
        assert len(password) == 14 and any(c.isdigit() for c in password) and any(c.isupper() for c in password)


def test_references_avoid_confusable_characters():
    reference = rules.new_reference()
    assert reference.startswith("REQ-") and len(reference) == 12
    assert not set(reference[4:]) & set("01IO")
