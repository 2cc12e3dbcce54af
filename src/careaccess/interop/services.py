"""The only writers of the interop tables that link directory rows to SCIM identifiers. Each is
called inside the transaction of the SCIM request that caused it, after the directory service
function that made the person or position, and records its own audit entry."""

from __future__ import annotations

from careaccess.core import clock, permissions
from careaccess.core.audit import ledger
from careaccess.core.context import Actor
from careaccess.core.errors import Conflict

from .models import ScimGroup, ScimUser


def link_user(actor: Actor, person, *, user_name: str, external_id: str = "") -> ScimUser | None:
    """Set the SCIM userName / externalId of a person (a userName equal to the uid needs no row)."""
    row = ScimUser.objects.select_for_update().filter(person=person).first()
    before = {"user_name": row.user_name, "external_id": row.external_id} if row else {"user_name": person.uid, "external_id": ""}
    after = {"user_name": user_name, "external_id": external_id}
    if before == after:
        return row
    actor = permissions.authorise(actor, "person.update")
    if ScimUser.objects.filter(user_name_key=user_name.lower()).exclude(person=person).exists():
        raise Conflict(f"the userName {user_name} is taken")
    row = row or ScimUser(person=person)
    row.user_name, row.user_name_key, row.external_id = user_name, user_name.lower(), external_id
    row.updated_at = clock.now()
    row.save()
    ledger.record("scim.user_linked", actor=actor, target_type="person", target_id=person.pk, before=before, after=after,
                  person_uid=person.uid)
    return row


def link_group(actor: Actor, position, *, external_id: str = "") -> ScimGroup | None:
    row = ScimGroup.objects.select_for_update().filter(position=position).first()
    before = row.external_id if row else ""
    if before == external_id:
        return row
    actor = permissions.authorise(actor, "position.update", position.organisation)
    row = row or ScimGroup(position=position)
    row.external_id = external_id
    row.updated_at = clock.now()
    row.save()
    ledger.record("scim.group_linked", actor=actor, target_type="position", target_id=position.pk,
                  before={"external_id": before}, after={"external_id": external_id},
                  organisation_code=position.organisation.code)
    return row
