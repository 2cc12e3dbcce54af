"""Self-service for every person (rules DS2, PP4): their own contact details, their password, and a
suspected breach. Each change is checked, written and audited in one transaction.

A person changing their own contact details does not need `person.update` (an RA right): the
permission path is "the actor is that person", and only the contact fields (email, phone) may be
set this way. Names, date of birth and NI number stay with the RA (a change of name needs a
face-to-face check, rule SC7).
"""

from __future__ import annotations

from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.db import transaction

from careaccess.core import clock
from careaccess.core.audit import ledger
from careaccess.core.context import Actor
from careaccess.core.errors import Forbidden, InvalidInput
from careaccess.core.outbox.services import enqueue
from careaccess.directory import services as directory_services
from careaccess.directory import validation
from careaccess.directory.models import Person

from . import policy
from .models import BreachReport

CONTACT_FIELDS = ("email", "phone")


def _own_person(actor: Actor, *, lock: bool = True) -> Person:
    if actor.kind != "person" or actor.person_id is None:
        raise Forbidden("Only the person themselves can use self-service.")
    query = Person.objects.select_related("user")
    if lock:
        query = query.select_for_update(of=("self",))
    return query.get(pk=actor.person_id)


def update_own_contact_details(actor: Actor, **data) -> Person:
    """Set the signed-in person's own email address and phone number (rule DS2)."""
    cleaners = {"email": validation.named_email, "phone": directory_services.PERSON_FIELDS["phone"]}
    with transaction.atomic():
        person = _own_person(actor)
        cleaned = validation.clean(cleaners, data, partial=True)
        before = directory_services.snapshot(person, CONTACT_FIELDS)
        for name, value in cleaned.items():
            setattr(person, name, value)
        after = directory_services.snapshot(person, CONTACT_FIELDS)
        if after != before:
            person.updated_at = clock.now()
            person.save(update_fields=[*cleaned, "updated_at"])
            ledger.record("person.contact_details_updated", actor=actor, target_type="person", target_id=person.uid,
                          person_uid=person.uid, before=before, after=after, reason="self-service (DS2)")
    return person


def _new_password_errors(person: Person, new_password: str, confirm: str) -> dict[str, str]:
    """Every problem with the new password at once (empty, too weak, not typed the same twice)."""
    errors = {}
    if not new_password:
        errors["new_password"] = "Enter a new password."
    else:
        try:
            validate_password(new_password, user=person.user)
        except ValidationError as error:
            errors["new_password"] = " ".join(error.messages)
    if not confirm:
        errors["confirm_password"] = "Type the new password again."
    elif new_password != confirm:
        errors["confirm_password"] = "The passwords do not match. Type the same new password twice."
    return errors


def _check_new_password(person: Person, new_password: str, confirm: str) -> None:
    errors = _new_password_errors(person, new_password, confirm)
    if errors:
        raise InvalidInput(errors)


def change_password(actor: Actor, *, current_password: str, new_password: str, confirm: str) -> None:
    """Change the signed-in person's own password: the current one first, then Django's validators."""
    with transaction.atomic():
        person = _own_person(actor)
        if person.user is None:
            raise Forbidden("You do not have a password sign-in.")
        errors = {}
        if not current_password:
            errors["current_password"] = "Enter your current password."
        elif not person.user.check_password(current_password):
            errors["current_password"] = "Your current password is not right."
        errors.update(_new_password_errors(person, new_password, confirm))
        if errors:
            raise InvalidInput(errors)
        person.user.set_password(new_password)
        person.user.save(update_fields=["password"])
        ledger.record("person.password_changed", actor=actor, target_type="person", target_id=person.uid,
                      person_uid=person.uid, reason="self-service (DS2)")


def report_breach(actor: Actor, *, description: str, new_password: str, confirm: str, client: str = "") -> BreachReport:
    """A person who suspects their credentials were compromised (rule PP4): the password changes at
    once (no current password needed: it may be what leaked, and they are signed in), the breach is
    recorded and the RA is told by email (through the outbox, in the same transaction)."""
    description = (description or "").strip()
    if not description:
        raise InvalidInput({"description": "Say what happened, so the RA can look into it."})
    if len(description) > 2000:
        raise InvalidInput({"description": "Description must be 2000 characters or fewer."})
    with transaction.atomic():
        person = _own_person(actor)
        if person.user is None:
            raise Forbidden("You do not have a password sign-in.")
        _check_new_password(person, new_password, confirm)
        now = clock.now()
        person.user.set_password(new_password)
        person.user.save(update_fields=["password"])
        report = BreachReport.objects.create(person=person, description=description, reported_at=now,
                                             password_changed_at=now, client=client[:100])
        ledger.record("person.password_changed", actor=actor, target_type="person", target_id=person.uid,
                      person_uid=person.uid, reason="suspected breach (PP4)")
        ledger.record("breach.reported", actor=actor, target_type="breach_report", target_id=report.pk,
                      person_uid=person.uid, after={"description": description}, reason="suspected breach (PP4)")
        enqueue(to=policy.ra_email(),
                subject=f"Suspected credential breach reported by {person.given_name} {person.family_name} ({person.uid})",
                body=(f"{person.given_name} {person.family_name} (user ID {person.uid}) reported a suspected "
                      f"breach of their credentials at {ledger.format_time(now)} and changed their password at once.\n\n"
                      f"What they told us:\n{description}\n\nBreach report {report.pk}. Check their cards and "
                      "sign-ins and decide whether to suspend access (rules PP4, SC3)."),
                kind="breach_report", cause=f"breach_report:{report.pk}")
    return report
