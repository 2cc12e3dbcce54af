"""The web shell's writes: sign-in attempts (with their throttle), sign-out and the choice of
acting position. Each writes its audit entry in the same transaction as its change."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import transaction

from careaccess.core import clock, permissions
from careaccess.core.audit import ledger
from careaccess.core.context import Actor
from careaccess.core.errors import Forbidden
from careaccess.directory.models import Person

from . import selectors
from .models import SigninThrottle


@dataclass(frozen=True)
class SignInResult:
    """What a sign-in attempt came to. `person` is set only when the sign-in succeeded."""

    person: Person | None = None
    locked_until: dt.datetime | None = None
    refused: str | None = None  # a reason shown to someone who gave the right password

    @property
    def succeeded(self) -> bool:
        return self.person is not None


def anonymous_actor(client: str) -> Actor:
    """Who is acting before they have signed in: someone at a network address."""
    return Actor(kind="anonymous", label=f"sign-in from {client or 'unknown address'}"[:200])


def _target(person: Person | None) -> dict:
    if person is None:
        return {"target_type": "signin", "target_id": "unknown username"}
    return {"target_type": "person", "target_id": person.uid, "person_uid": person.uid}


def _throttle(key: str) -> SigninThrottle:
    """The throttle row for `key`, locked for this transaction (made when first needed)."""
    SigninThrottle.objects.get_or_create(key=key, defaults={"updated_at": clock.now()})
    return SigninThrottle.objects.select_for_update().get(key=key)


def _password_matches(person: Person | None, password: str) -> bool:
    if person is None or person.user is None:
        # Hash anyway so that a missing account takes as long to refuse as a wrong password.
        get_user_model()().set_password(password)
        return False
    return person.user.check_password(password)


def sign_in(username: str, password: str, *, client: str = "") -> SignInResult:
    """Check a staff sign-in, counting failures per username (or person) and locking the sign-in
    after CAREACCESS_SIGNIN_MAX_FAILURES failures within CAREACCESS_SIGNIN_FAILURE_WINDOW_MINUTES,
    for CAREACCESS_SIGNIN_LOCKOUT_MINUTES. A locked sign-in is refused without checking the
    password, alike for usernames that exist and those that do not."""
    person = selectors.person_for_username(username)
    key = selectors.throttle_key(username, person)
    locked = selectors.locked_until(key)
    if locked is not None:
        _record_blocked(person, client, locked)
        return SignInResult(locked_until=locked)
    if not _password_matches(person, password):
        return _record_failure(key, person, client)
    with transaction.atomic():
        row = _throttle(key)
        now = clock.now()
        if row.locked_until and row.locked_until > now:  # locked by an attempt running beside this one
            ledger.record("signin.blocked", actor=anonymous_actor(client), reason="sign-in locked", **_target(person))
            return SignInResult(locked_until=row.locked_until)
        person = Person.objects.select_related("user").get(pk=person.pk)
        refused = None
        if person.status != Person.Status.ACTIVE:
            refused = (f"Your record is {person.get_status_display().lower()}, so you cannot sign in. "
                       "Contact your registration authority.")
        elif not person.user.is_active:
            refused = "Your sign-in has been turned off. Contact your registration authority."
        if refused:
            ledger.record("signin.refused", actor=anonymous_actor(client), reason=refused, **_target(person))
            return SignInResult(refused=refused)
        row.failures, row.window_started_at, row.locked_until, row.updated_at = 0, None, None, now
        row.save()
        ledger.record("signin.succeeded", actor=permissions.actor_for_person(person), reason=f"from {client}",
                      **_target(person))
    return SignInResult(person=person)


def _record_blocked(person: Person | None, client: str, locked: dt.datetime) -> None:
    with transaction.atomic():
        ledger.record("signin.blocked", actor=anonymous_actor(client),
                      reason=f"sign-in locked until {ledger.format_time(locked)}", **_target(person))


def _record_failure(key: str, person: Person | None, client: str) -> SignInResult:
    window = dt.timedelta(minutes=settings.CAREACCESS_SIGNIN_FAILURE_WINDOW_MINUTES)
    with transaction.atomic():
        row = _throttle(key)
        now = clock.now()
        actor = anonymous_actor(client)
        if row.locked_until and row.locked_until > now:
            ledger.record("signin.blocked", actor=actor, reason="sign-in locked", **_target(person))
            return SignInResult(locked_until=row.locked_until)
        if row.window_started_at is None or now - row.window_started_at >= window:
            row.failures, row.window_started_at = 0, now
        row.failures += 1
        row.locked_until = None
        ledger.record("signin.failed", actor=actor, reason=f"wrong username or password (failure {row.failures})",
                      **_target(person))
        if row.failures >= settings.CAREACCESS_SIGNIN_MAX_FAILURES:
            row.locked_until = now + dt.timedelta(minutes=settings.CAREACCESS_SIGNIN_LOCKOUT_MINUTES)
            row.failures, row.window_started_at = 0, None
            ledger.record("signin.locked", actor=actor, after={"locked_until": ledger.format_time(row.locked_until)},
                          reason=f"{settings.CAREACCESS_SIGNIN_MAX_FAILURES} failed sign-ins within "
                                 f"{settings.CAREACCESS_SIGNIN_FAILURE_WINDOW_MINUTES} minutes", **_target(person))
        row.updated_at = now
        row.save()
    return SignInResult(locked_until=row.locked_until)


def sign_out(actor: Actor) -> None:
    with transaction.atomic():
        ledger.record("signin.signed_out", actor=actor, target_type="person", target_id=actor.person_uid,
                      person_uid=actor.person_uid)


def choose_position(actor: Actor, assignment_id: int) -> Actor:
    """Act in one of the person's staff positions from now on; returns the actor acting in it.
    Raises Forbidden when the assignment is not one of their live staff positions."""
    grant = next((g for g in permissions.grants(actor.person_id) if g.assignment_id == assignment_id), None)
    if grant is None:
        raise Forbidden("That position is not one of your live staff positions. Choose one of those listed.")
    acting = Actor(kind=actor.kind, label=actor.label, person_id=actor.person_id, person_uid=actor.person_uid,
                   assignment_id=grant.assignment_id, position_label=grant.position_label)
    with transaction.atomic():
        ledger.record("signin.position_chosen", actor=acting, target_type="assignment", target_id=grant.assignment_id,
                      person_uid=actor.person_uid, organisation_code=grant.organisation_code)
    return acting
