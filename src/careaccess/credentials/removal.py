"""The RA removes a person's lost second factor: their authenticator app or one security key.

A member of staff who loses their phone or key cannot pass the second sign-in step. An RA agent
or RA manager covering one of the person's organisations removes the named authenticator, with a
reason, the person present and their photo ID checked now — never remotely (rule DS3, as for a
card unlock), and only RA staff check identity (rule DS5); nobody removes their own. The removal,
its audit entry and the email telling the person are one transaction. With no second factor
left, the person sets up a new one at their next sign-in (the enrolment the sign-in page sends
staff with RA or sponsor rights to). Removing the app also voids its unused recovery codes: they
were issued with it and may have been kept on the lost phone.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass

from django.db import transaction

from careaccess.core import clock
from careaccess.core.audit import ledger
from careaccess.core.context import Actor
from careaccess.core.errors import Forbidden, InvalidInput, NotFound
from careaccess.core.outbox.services import enqueue
from careaccess.directory.models import Person
from careaccess.identity.rules import PHOTO_DOCUMENTS

from . import policy, rules, services
from .models import RecoveryCode, SecurityKey, TotpDevice

ACTION = "authenticator.remove"
_ID = re.compile(r"^(app|key)-(\d{1,18})$")


@dataclass(frozen=True)
class Authenticator:
    id: str  # "app-<n>" for the authenticator app, "key-<n>" for a security key
    kind: str
    name: str
    registered_at: dt.datetime
    last_used_at: dt.datetime | None


def _app(device: TotpDevice) -> Authenticator:
    return Authenticator(f"app-{device.pk}", "Authenticator app", "Authenticator app", device.confirmed_at, None)


def _key(key: SecurityKey) -> Authenticator:
    return Authenticator(f"key-{key.pk}", "Security key", key.name, key.created_at, key.last_used_at)


def authenticators_of(person: Person) -> list[Authenticator]:
    """The person's second factors in use: the confirmed authenticator app, then security keys."""
    apps = TotpDevice.objects.filter(person=person).in_use()
    keys = SecurityKey.objects.filter(person=person).in_use()
    return [_app(d) for d in apps] + [_key(k) for k in keys]


def authorise(actor: Actor, person: Person) -> Actor:
    """RA staff covering one of the person's organisations; never the person themselves."""
    if actor.kind == "person" and actor.person_id == person.id:
        raise Forbidden("nobody may remove their own authenticator (rule DS5): another member of RA staff must, "
                        "with you present; to change your app yourself, set up a new one under Sign-in security")
    return services.authorise_for_holder(actor, ACTION, person, what="this person's authenticators")


def _find(person: Person, authenticator_id: str) -> TotpDevice | SecurityKey:
    match = _ID.match(str(authenticator_id or "").strip())
    rows = None
    if match:
        model = TotpDevice if match.group(1) == "app" else SecurityKey
        rows = model.objects.select_for_update().filter(pk=int(match.group(2)), person=person).in_use()
    found = rows.first() if rows is not None else None
    if found is None:
        names = ", ".join(a.id for a in authenticators_of(person)) or "none"
        raise NotFound(f"{person.uid} has no authenticator {authenticator_id} in use; theirs: {names}")
    return found


def _notify(person: Person, actor: Actor, removed: Authenticator, reason: str) -> str:
    if not person.email:
        return ""
    enqueue(to=person.email, subject=f"Your {removed.kind.lower()} was removed from your sign-in",
            body=(f"{actor.label} removed your {removed.kind.lower()} ({removed.name}) from your careaccess sign-in "
                  f"on {clock.now():%d %B %Y at %H:%M} UTC, with you present.\n\nReason: {reason}\n\n"
                  f"If you have no other authenticator, you will set up a new one the next time you sign in.\n\n"
                  f"If this was not you, tell the RA team at {policy.ra_email()} at once."),
            kind="authenticator_removed", cause=f"authenticator_removed:{person.uid}:{removed.id}")
    return person.email


@transaction.atomic
def remove_authenticator(actor: Actor, person: Person, authenticator_id: str, *, reason: str, in_person: bool,
                         id_document: str) -> Authenticator:
    """Remove a person's named authenticator (app or security key). Refused, with nothing changed,
    for the person themselves, for staff other than RA staff covering the person, without the
    person present or without a photo ID checked now, or without a reason."""
    actor = authorise(actor, person)
    errors = rules.removal_errors(reason=reason, in_person=in_person, id_document=id_document,
                                  photo_documents=PHOTO_DOCUMENTS)
    if errors:
        raise InvalidInput(errors)
    reason = " ".join(reason.split())
    Person.objects.select_for_update().get(pk=person.pk)
    found = _find(person, authenticator_id)
    removed = _app(found) if isinstance(found, TotpDevice) else _key(found)
    now = clock.now()
    found.removed_at = now
    found.save(update_fields=["removed_at"])
    voided = 0
    if isinstance(found, TotpDevice):
        voided = RecoveryCode.objects.filter(person=person, used_at__isnull=True).update(used_at=now)
    left = [a.id for a in authenticators_of(person)]
    notified = _notify(person, actor, removed, reason)
    ledger.record("authenticator.removed", actor=actor, target_type=f"credentials.{found._meta.model_name}",
                  target_id=found.pk, person_uid=person.uid, reason=reason,
                  before={"authenticator": removed.id, "kind": removed.kind, "name": removed.name},
                  after={"removed_at": now, "recovery_codes_voided": voided, "left": left, "in_person": True,
                         "id_document": id_document, "notified": notified})
    return removed
