"""Reinstatement of a suspended account (rules PP8, PP13).

1. `ask` (the public form, nobody signed in): name, email address, service. When a suspended
   account is held by someone with that address, a confirmation link (signed, expiring after
   `CAREACCESS_REINSTATEMENT_LINK_HOURS`) is emailed to it; otherwise the address gets a refusal
   saying to ask from the address on the account. The page says the same either way, so the form
   tells nobody which addresses have accounts.
2. `confirm`: following the link proves the asker reads that address.
3. Staff (`reinstatement.check`) see whether the name and the address match the account's holder
   (`matches`) and only when both do may `reinstate`: it raises and submits a reactivation request,
   which goes through the requests domain (validated, approved, fulfilled) like any other. `refuse`
   closes it with a reason, emailed to the address on file.
"""

from __future__ import annotations

import dataclasses
import datetime as dt

from django.core import signing
from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import transaction

from careaccess.core import clock, permissions
from careaccess.core.audit import ledger
from careaccess.core.context import Actor
from careaccess.core.errors import Conflict, Forbidden, InvalidInput, NotFound
from careaccess.core.outbox.services import enqueue
from careaccess.directory.models import Account, Assignment, Organisation, Service

from . import policy
from .models import Reinstatement

SALT = "careaccess.lifecycle.reinstatement"
PUBLIC = Actor.system("public reinstatement form")


def _clean(given_name: str, family_name: str, email: str) -> tuple[str, str, str]:
    errors = {}
    given_name, family_name, email = (given_name or "").strip(), (family_name or "").strip(), (email or "").strip()
    if not given_name:
        errors["given_name"] = "Enter your first name"
    elif len(given_name) > 100:
        errors["given_name"] = "First name must be 100 characters or fewer"
    if not family_name:
        errors["family_name"] = "Enter your last name"
    elif len(family_name) > 100:
        errors["family_name"] = "Last name must be 100 characters or fewer"
    if not email:
        errors["email"] = "Enter the email address on your account"
    else:
        try:
            validate_email(email)
        except ValidationError:
            errors["email"] = "Enter an email address in the correct format, like name@example.nhs.uk"
    if errors:
        raise InvalidInput(errors)
    return given_name, family_name, email.lower()


def token_for(reinstatement: Reinstatement) -> str:
    return signing.dumps({"r": reinstatement.pk}, salt=SALT)


def link_for(reinstatement: Reinstatement) -> str:
    return f"{policy.site_url()}/lifecycle/reinstate/confirm/{token_for(reinstatement)}"


@transaction.atomic
def ask(*, given_name: str, family_name: str, email: str, service: Service | None = None) -> list[Reinstatement]:
    """The public form. Returns the reinstatements started (none when no suspended account has
    that address: the address is told to ask from the one on the account, rule PP13)."""
    given_name, family_name, email = _clean(given_name, family_name, email)
    accounts = Account.objects.filter(person__email__iexact=email, state=Account.State.SUSPENDED).select_related(
        "person", "service").order_by("id")
    if service is not None:
        accounts = accounts.filter(service=service)
    accounts = list(accounts)
    if not accounts:
        enqueue(to=email, subject="Your request to reinstate an account",
                body="We received a request to reinstate a suspended account from this email address, but no "
                     "suspended account uses it. A suspended account is reinstated only when its holder asks from "
                     "the email address on the account (rule PP13): please ask again from that address.\n\n"
                     "If you did not ask, you can ignore this email.\n",
                kind="lifecycle.reinstatement", cause="reinstatement:refused")
        return []
    made = []
    now = clock.now()
    for account in accounts:
        row = Reinstatement.objects.create(given_name=given_name, family_name=family_name, email=email,
                                           account=account, created_at=now)
        ledger.record("reinstatement.asked", actor=PUBLIC, target_type="reinstatement", target_id=row.pk,
                      after={"account": account.pk, "service": account.service.code, "email": email,
                             "given_name": given_name, "family_name": family_name},
                      person_uid=account.person.uid)
        enqueue(to=email, subject=f"Confirm your request to reinstate your {account.service.name} account",
                body=f"To confirm that you asked for your {account.service.name} account to be reinstated, follow "
                     f"this link within {policy.reinstatement_link_hours()} hours:\n\n{link_for(row)}\n\nStaff then "
                     f"check your request before the account is reinstated. If you did not ask, ignore this email.\n",
                kind="lifecycle.reinstatement", cause=f"reinstatement:{row.pk}")
        made.append(row)
    return made


@transaction.atomic
def confirm(token: str) -> Reinstatement:
    try:
        value = signing.loads(token, salt=SALT)
        row_id = int(value["r"])
    except (signing.BadSignature, KeyError, TypeError, ValueError):
        raise InvalidInput({"token": "This link is not valid. Copy the whole link from the email, or ask again."}) from None
    row = Reinstatement.objects.select_for_update().filter(pk=row_id).first()
    if row is None:
        raise InvalidInput({"token": "This link is not valid. Ask again."})
    if row.state != Reinstatement.State.AWAITING_CONFIRMATION:
        return row  # following the link twice changes nothing
    if clock.now() > row.created_at + dt.timedelta(hours=policy.reinstatement_link_hours()):
        raise Conflict("This link has expired. Ask again to be sent a new one.")
    row.state, row.confirmed_at = Reinstatement.State.CONFIRMED, clock.now()
    row.save(update_fields=["state", "confirmed_at"])
    ledger.record("reinstatement.confirmed", actor=PUBLIC, target_type="reinstatement", target_id=row.pk,
                  before={"state": Reinstatement.State.AWAITING_CONFIRMATION}, after={"state": row.state},
                  person_uid=row.account.person.uid)
    return row


@dataclasses.dataclass(frozen=True)
class Match:
    name: bool
    address: bool
    name_on_account: str
    address_on_account: str

    @property
    def both(self) -> bool:
        return self.name and self.address


def _norm(text: str) -> str:
    return " ".join((text or "").casefold().split())


def matches(row: Reinstatement) -> Match:
    """PP13: does the name given match the account holder's, and the address the one on the account?"""
    holder = row.account.person
    return Match(
        name=_norm(row.given_name) == _norm(holder.given_name) and _norm(row.family_name) == _norm(holder.family_name),
        address=bool(holder.email) and row.email.lower() == holder.email.lower(),
        name_on_account=f"{holder.given_name} {holder.family_name}",
        address_on_account=holder.email,
    )


def _locked(row: Reinstatement | int) -> Reinstatement:
    found = (Reinstatement.objects.select_for_update(of=("self",)).select_related("account__person", "account__service")
             .filter(pk=getattr(row, "pk", row)).first())
    if found is None:
        raise NotFound(f"no reinstatement request {getattr(row, 'pk', row)}")
    return found


def organisation_for(row: Reinstatement) -> Organisation | None:
    """Where the reactivation request is raised: the holder's current organisation, else their latest."""
    today = clock.today()
    assignments = Assignment.objects.filter(person=row.account.person).exclude(
        position__organisation__status=Organisation.Status.CLOSED).select_related("position__organisation")
    live = assignments.filter(state=Assignment.State.ACTIVE, starts_on__lte=today).order_by("-starts_on", "-id").first()
    chosen = live or assignments.order_by("-starts_on", "-id").first()
    return chosen.position.organisation if chosen else None


@transaction.atomic
def reinstate(actor: Actor, row: Reinstatement | int) -> Reinstatement:
    """Staff reinstate, once name and address match, by raising a reactivation request (PP13)."""
    from careaccess.access_requests import services as requests
    from careaccess.access_requests.rules import Kind

    row = _locked(row)
    organisation = organisation_for(row)
    acting = permissions.authorise(actor, "reinstatement.check", organisation)
    if row.state != Reinstatement.State.CONFIRMED:
        raise Conflict(f"this request is {row.get_state_display().lower()}; only a confirmed request is reinstated")
    match = matches(row)
    if not match.address:
        raise Forbidden(f"the request came from {row.email}, not from the address on the account "
                        f"({match.address_on_account or 'none'}); it cannot be reinstated (rule PP13)")
    if not match.name:
        raise Forbidden(f"the name given, {row.given_name} {row.family_name}, does not match the account holder's; "
                        f"it cannot be reinstated (rule PP13)")
    if row.account.state != Account.State.SUSPENDED:
        raise Conflict(f"the account is {row.account.state}, not suspended")
    if organisation is None:
        raise Conflict("the account holder holds no position at an open organisation; raise a new user request instead")
    person = row.account.person
    request = requests.raise_request(
        Actor.system(f"reinstatement {row.pk}: asked by {person.uid} from {row.email}, checked by {acting.label}"),
        kind=Kind.REACTIVATION, organisation=organisation, service=row.account.service,
        details={"person": person.uid, "requested_from": row.email},
        note=f"reinstatement asked from the address on the account; name and address checked by {acting.label} "
             f"(rule PP13)", submit=True)
    before = {"state": row.state}
    row.state, row.decided_at, row.decided_by_label, row.access_request = (
        Reinstatement.State.REQUESTED, clock.now(), acting.label, request)
    row.save(update_fields=["state", "decided_at", "decided_by_label", "access_request"])
    ledger.record("reinstatement.requested", actor=acting, target_type="reinstatement", target_id=row.pk,
                  before=before, after={"state": row.state, "access_request": request.reference},
                  person_uid=person.uid, organisation_code=organisation.code, access_request=request.reference,
                  reason="name and address match the account (rule PP13)")
    return row


@transaction.atomic
def refuse(actor: Actor, row: Reinstatement | int, *, reason: str) -> Reinstatement:
    row = _locked(row)
    acting = permissions.authorise(actor, "reinstatement.check", organisation_for(row))
    reason = (reason or "").strip()
    if not reason:
        raise InvalidInput({"reason": "Give the reason the reinstatement is refused; the person is told it"})
    if row.state in (Reinstatement.State.REQUESTED, Reinstatement.State.REFUSED):
        raise Conflict(f"this request is already {row.get_state_display().lower()}")
    before = {"state": row.state}
    row.state, row.decided_at, row.decided_by_label, row.reason = (
        Reinstatement.State.REFUSED, clock.now(), acting.label, reason)
    row.save(update_fields=["state", "decided_at", "decided_by_label", "reason"])
    ledger.record("reinstatement.refused", actor=acting, target_type="reinstatement", target_id=row.pk,
                  before=before, after={"state": row.state}, person_uid=row.account.person.uid, reason=reason)
    holder_email = row.account.person.email
    if holder_email:
        enqueue(to=holder_email, subject=f"Your {row.account.service.name} account was not reinstated",
                body=f"A request to reinstate your {row.account.service.name} account was refused: {reason}\n",
                kind="lifecycle.reinstatement", cause=f"reinstatement:{row.pk}")
    return row


def waiting(actor: Actor):
    """Confirmed requests waiting for a staff check, oldest first."""
    return (Reinstatement.objects.filter(state=Reinstatement.State.CONFIRMED)
            .select_related("account__person", "account__service").order_by("confirmed_at", "id"))
