"""The only code that writes care-home mailboxes. Each function validates, checks permission,
writes, records the audit entry and queues its emails in one transaction; a refusal raises before
anything is written (rules NM1-NM12, PP2, CC8)."""

from __future__ import annotations

import dataclasses
import secrets
from typing import Any

from django.contrib.auth import get_user_model
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import IntegrityError, transaction

from careaccess.core import clock, permissions
from careaccess.core.audit import ledger
from careaccess.core.context import Actor
from careaccess.core.errors import Conflict, Forbidden, InvalidInput, NotFound
from careaccess.core.outbox.services import enqueue
from careaccess.directory import rules as directory_rules
from careaccess.directory import services as directory_services
from careaccess.directory.models import Account, Organisation, OrganisationalUnit, Person, Service

from . import policy, rules
from .models import Application, HelpdeskDelegation, Mailbox, Membership, SharedMailbox

MAX_INDIVIDUALS = 10  # rows an application can list (NM4 caps what is created)


@dataclasses.dataclass(frozen=True)
class Report:
    """An uploaded IG toolkit assessment report."""

    name: str
    content: bytes


def anonymous_actor(client: str = "") -> Actor:
    return Actor(kind="anonymous", label=f"care home applicant from {client or 'unknown address'}"[:200])


# --- application (NM1, NM2, NM12) ---

def sponsors():
    return Organisation.objects.filter(kind__in=policy.sponsor_kinds(), status=Organisation.Status.ACTIVE).order_by("name")


def _text(data, name, errors, message, max_length=200, required=True) -> str:
    value = " ".join(str(data.get(name) or "").split()) if name != "home_address" else str(data.get(name) or "").strip()
    if required and not value:
        errors[name] = message
    elif len(value) > max_length:
        errors[name] = f"use {max_length} characters or fewer"
    return value


def _bool(data, name, errors, message) -> bool | None:
    value = data.get(name)
    if isinstance(value, bool):
        return value
    if value in ("yes", "true", "on", "1"):
        return True
    if value in ("no", "false", "0"):
        return False
    errors[name] = message
    return None


def _rule(data, name, errors, rule, required_message=None):
    value = str(data.get(name) or "").strip()
    if not value and required_message:
        errors[name] = required_message
        return ""
    try:
        return rule(value)
    except ValueError as exc:
        errors[name] = str(exc)[:1].upper() + str(exc)[1:]
        return value


def _check_report(report: Report | None, errors) -> None:
    if report is None:
        errors["ig_report"] = "Attach the IG toolkit assessment report as a PDF"
        return
    limit = policy.report_max_bytes()
    if len(report.content) > limit:
        errors["ig_report"] = f"The IG toolkit report must be smaller than {limit // (1024 * 1024) or 1} MB"
    elif not report.content.startswith(b"%PDF-"):
        errors["ig_report"] = "The IG toolkit report must be a PDF file"


def clean_application(data: dict[str, Any], report: Report | None) -> dict[str, Any]:
    """Every field checked, every problem reported at once (InvalidInput), nothing written."""
    errors: dict[str, str] = {}
    c: dict[str, Any] = {}
    code = str(data.get("sponsor") or "").strip().upper()
    sponsor = sponsors().filter(code=code).first() if code else None
    if sponsor is None:
        errors["sponsor"] = "Select the organisation that sponsors your care home"
    c["sponsor"] = sponsor
    c["applicant_name"] = _text(data, "applicant_name", errors, "Enter your full name")
    c["applicant_role"] = _text(data, "applicant_role", errors, "Enter your role at the care home")
    email = str(data.get("applicant_email") or "").strip().lower()
    try:
        validate_email(email)
        if rules.is_generic_email(email):
            errors["applicant_email"] = ("Enter your own email address, not a shared or generic one like info@ "
                                         "(rule PP2)")
    except ValidationError:
        errors["applicant_email"] = "Enter an email address in the right format, like name@example.com"
    c["applicant_email"] = email
    c["home_name"] = _text(data, "home_name", errors, "Enter the care home's name")
    c["home_address"] = _text(data, "home_address", errors, "Enter the care home's address", max_length=500)
    c["home_town"] = _text(data, "home_town", errors, "Enter the town or city of the care home", max_length=100)
    if c["home_town"] and not rules.shared_word(c["home_town"]):
        errors["home_town"] = "Enter the town or city in letters, like Leeds"
    c["home_postcode"] = _rule(data, "home_postcode", errors, rules.clean_postcode, "Enter the care home's postcode")
    c["home_phone"] = _rule(data, "home_phone", errors, directory_rules.normalise_phone,
                            "Enter the care home's telephone number")
    c["cqc_number"] = _rule(data, "cqc_number", errors, directory_rules.normalise_cqc_number,
                            "Enter the care home's CQC registration number")
    c["ig_toolkit_completed"] = _bool(data, "ig_toolkit_completed", errors,
                                      "Select yes if the home has completed the IG toolkit")
    if c["ig_toolkit_completed"]:
        _check_report(report, errors)
    c["existing_accounts"] = _text(data, "existing_accounts", errors, "", max_length=1000, required=False)
    c["exchanges_data"] = _bool(data, "exchanges_data", errors,
                                "Select yes if the home regularly needs to exchange data securely")
    c["exchange_reason"] = _text(data, "exchange_reason", errors, "Say why the home needs to exchange data securely",
                                 max_length=2000, required=bool(c["exchanges_data"]))
    individuals = []
    rows = data.get("individuals") or []
    if not isinstance(rows, list) or len(rows) > MAX_INDIVIDUALS:
        errors["individuals"] = f"List up to {MAX_INDIVIDUALS} individual accounts"
        rows = []
    for i, row in enumerate(rows):
        if not any(str(v or "").strip() for v in row.values()):
            continue
        person = {}
        for name, rule, message in (("title", rules.clean_title, "Enter the title"),
                                    ("first_name", lambda v: rules.clean_person_name(v, "first name"), "Enter the first name"),
                                    ("last_name", lambda v: rules.clean_person_name(v, "last name"), "Enter the last name"),
                                    ("mobile", rules.clean_mobile, "Enter the mobile number")):
            person[name] = _rule(row, name, (sub := {}), rule, message)
            if sub:
                errors[f"individuals-{i}-{name}"] = f"Account {i + 1}: {sub[name]}"
        individuals.append(person)
    if not individuals:
        errors["individuals-0-first_name"] = "Enter at least one person who needs an individual account"
    c["individuals"] = individuals
    c["shared_wanted"] = bool(_bool(data, "shared_wanted", {}, "")) if data.get("shared_wanted") not in (None, "") else False
    c["shared_name"] = _text(data, "shared_name", errors, "Enter the preferred shared mailbox name",
                             required=c["shared_wanted"])
    c["shared_owner"] = _text(data, "shared_owner", errors, "Enter the shared mailbox owner's name",
                              required=c["shared_wanted"])
    c["shared_owner_mobile"] = (_rule(data, "shared_owner_mobile", errors, rules.clean_mobile,
                                      "Enter the shared mailbox owner's mobile number") if c["shared_wanted"] else "")
    c["group_name"] = _text(data, "group_name", errors, "", required=False)
    c["head_office"] = _text(data, "head_office", errors, "Enter the head office's name and address",
                             max_length=500, required=bool(c["group_name"]))
    c["head_office_aware"] = str(data.get("head_office_aware") or "").lower() in ("true", "yes", "on", "1")
    if c["group_name"] and not c["head_office_aware"]:
        errors["head_office_aware"] = "Confirm your head office knows about this application (rule NM12)"
    c["benefits"] = _text(data, "benefits", errors, "Describe the benefits the home expects", max_length=2000)
    if errors:
        raise InvalidInput(errors)
    return c


def _store_report(report: Report) -> tuple[str, str]:
    directory = policy.upload_dir()
    directory.mkdir(parents=True, exist_ok=True)
    stored = f"{secrets.token_hex(16)}.pdf"
    path = directory / stored
    with open(path, "xb") as handle:
        handle.write(report.content)
    safe_name = "".join(ch for ch in (report.name or "report.pdf") if ch.isalnum() or ch in " ._-")[:200]
    return stored, safe_name or "report.pdf"


def _unique_reference() -> str:
    while True:
        reference = f"MBX-{secrets.randbelow(10**6):06d}"
        if not Application.objects.filter(reference=reference).exists():
            return reference


def _duplicate_message(existing: Application) -> str:
    return (f"An application for CQC number {existing.cqc_number} was already received on "
            f"{existing.created_at:%d %B %Y} (reference {existing.reference}). You do not need to apply again; "
            f"contact {existing.sponsor.name} about it.")


def submit_application(data: dict[str, Any], report: Report | None = None, *, client: str = "") -> Application:
    """A care home applies, without an account (NM1). The applicant gets a receipt with the
    sponsor's timescale (NM2); a second application for the same CQC number is refused."""
    c = clean_application(data, report)
    existing = Application.objects.filter(open_key=c["cqc_number"]).select_related("sponsor").first()
    if existing is not None:
        raise Conflict(_duplicate_message(existing))
    stored = ("", "")
    if c["ig_toolkit_completed"] and report is not None:
        stored = _store_report(report)
    try:
        with transaction.atomic():
            now = clock.now()
            app = Application(reference=_unique_reference(), open_key=c["cqc_number"], created_at=now, updated_at=now,
                              ig_report_file=stored[0], ig_report_name=stored[1],
                              ig_report_size=len(report.content) if stored[0] else 0, **c)
            try:
                with transaction.atomic():
                    app.save()
            except IntegrityError:
                raise Conflict(_duplicate_message(Application.objects.get(open_key=c["cqc_number"]))) from None
            _audit("mailbox.application_submitted", anonymous_actor(client), app,
                   after={"home": app.home_name, "cqc_number": app.cqc_number, "accounts": len(app.individuals),
                          "shared": app.shared_wanted, "group": app.group_name})
            timescale = policy.decision_timescale(app.sponsor.code)
            enqueue(to=app.applicant_email, kind="mailbox", cause=f"mailbox application {app.reference}",
                    subject=f"We have received your mailbox application {app.reference}",
                    body=(f"Dear {app.applicant_name},\n\n{app.sponsor.name} has received the application for "
                          f"mailbox accounts for {app.home_name} (CQC {app.cqc_number}), reference "
                          f"{app.reference}.\n\nWe will assess it and tell you our decision within {timescale}.\n"))
    except BaseException:
        if stored[0]:
            (policy.upload_dir() / stored[0]).unlink(missing_ok=True)
        raise
    return app


def report_path(app: Application):
    """Where an application's report is stored, for the assessing administrators only."""
    return policy.upload_dir() / app.ig_report_file if app.ig_report_file else None


# --- assessment and decision (NM3-NM6) ---

def _audit(action: str, actor: Actor, app: Application, *, before=None, after=None, reason: str = "",
           person_uid=None) -> None:
    ledger.record(action, actor=actor, target_type="mailbox.application", target_id=app.reference, before=before,
                  after=after, organisation_code=app.sponsor.code, reason=reason, person_uid=person_uid)


def _locked(app: Application | str) -> Application:
    reference = app.reference if isinstance(app, Application) else str(app)
    try:
        return Application.objects.select_for_update(of=("self",)).select_related("sponsor").get(reference=reference)
    except Application.DoesNotExist:
        raise NotFound(f"no mailbox application with reference {reference}") from None


def _open(app: Application) -> None:
    if app.state != Application.State.SUBMITTED:
        raise Conflict(f"application {app.reference} was already {app.get_state_display().lower()}; nothing changed")


def matching_care_home(cqc_number: str) -> Organisation | None:
    """NM3: the care home known to the directory with this CQC number."""
    return Organisation.objects.filter(kind=Organisation.Kind.CARE_HOME, cqc_number=cqc_number).exclude(
        status=Organisation.Status.CLOSED).first()


def cqc_mismatch(cqc_number: str) -> str:
    """NM3, when the application's CQC number matches no care home in the directory: what the
    administrator does about it (the applicant cannot see the directory)."""
    return (f"CQC number {cqc_number} matches no care home in the directory, so the application cannot be approved "
            f"(rule NM3). Check the number with the home and the CQC register. If the application's number is "
            f"wrong, reject it saying so: the home can apply again with the right one. If the directory is missing "
            f"the home or holds a wrong number for it, ask your RA manager to add or correct the care home "
            f"(PATCH /api/v1/organisations/{{code}}), then assess the application again")


@transaction.atomic
def assess(actor: Actor, application, *, ig_toolkit_checked: bool, justification: str = "",
           justification_accepted: bool = False) -> Application:
    """Record the assessment: CQC number matched against the directory (NM3), IG toolkit checked,
    any business justification for more than 4 accounts (NM4). Sponsor's administrators only (NM6)."""
    app = _locked(application)
    acting = permissions.authorise(actor, "mailbox.assess", app.sponsor)
    _open(app)
    justification = (justification or "").strip()
    errors = {}
    if not ig_toolkit_checked:
        errors["ig_toolkit_checked"] = ("Confirm that you have checked the home's IG toolkit completion (rule NM3). "
                                        "If the home has not completed it, reject the application and say so "
                                        "(rule NM5)")
    if justification_accepted and not justification:
        errors["justification"] = "Record the business justification you accept (rule NM4)"
    if errors:
        raise InvalidInput(errors)
    before = {"cqc_home": app.cqc_home_id, "ig_toolkit_checked": app.ig_toolkit_checked,
              "justification_accepted": app.justification_accepted}
    home = matching_care_home(app.cqc_number)
    app.cqc_home = home
    app.ig_toolkit_checked = bool(ig_toolkit_checked)
    app.justification = justification
    app.justification_accepted = bool(justification_accepted)
    app.assessed_at = app.updated_at = clock.now()
    app.assessed_by_label = acting.label
    app.save()
    _audit("mailbox.application_assessed", acting, app, before=before,
           after={"cqc_home": home.code if home else None, "ig_toolkit_checked": app.ig_toolkit_checked,
                  "justification_accepted": app.justification_accepted})
    return app


@transaction.atomic
def reject(actor: Actor, application, *, reasons: str) -> Application:
    """NM5: the applicant is told the reasons and pointed to other secure-email options."""
    app = _locked(application)
    acting = permissions.authorise(actor, "mailbox.decide", app.sponsor)
    _open(app)
    reasons = (reasons or "").strip()
    if not reasons:
        raise InvalidInput({"reasons": "Give the reasons for rejecting the application (rule NM5)"})
    app.state = Application.State.REJECTED
    app.reasons = reasons
    app.open_key = None  # the home may apply again
    app.decided_at = app.updated_at = clock.now()
    app.decided_by_label = acting.label
    app.save()
    _audit("mailbox.application_rejected", acting, app, after={"state": app.state}, reason=reasons)
    enqueue(to=app.applicant_email, kind="mailbox", cause=f"mailbox application {app.reference}",
            subject=f"Your mailbox application {app.reference} has been rejected",
            body=(f"Dear {app.applicant_name},\n\n{app.sponsor.name} has rejected the application for mailbox "
                  f"accounts for {app.home_name}.\n\nReasons:\n{reasons}\n\nOther ways to send email securely: "
                  f"{policy.secure_email_url()}\n"))
    return app


def _mail_service() -> Service | None:
    return Service.objects.filter(code=policy.service_code(), status=Service.Status.ACTIVE).first()


def _taken_addresses(base_local: str, domain: str) -> set[str]:
    pattern = f"{base_local}"
    taken = set(Mailbox.objects.filter(address__startswith=pattern).values_list("address", flat=True))
    taken |= set(SharedMailbox.objects.filter(address__startswith=pattern).values_list("address", flat=True))
    taken |= set(Person.objects.filter(email__istartswith=pattern, email__iendswith=f"@{domain}")
                 .values_list("email", flat=True))
    taken |= set(Account.objects.filter(service__code=policy.service_code(), username__istartswith=pattern)
                 .values_list("username", flat=True))
    return {a.lower() for a in taken}


def _create_mailbox_user(acting: Actor, unit: OrganisationalUnit, app: Application | None, row: dict,
                         nominee: str) -> Mailbox:
    """NM8: the person, their sign-in with a temporary password, their mailbox; username and
    password go out in two separate messages (CC8) to the nominated person for onward handing."""
    domain = policy.domain()
    base = rules.user_local_part(row["first_name"], row["last_name"])
    address = rules.user_address(row["first_name"], row["last_name"], domain, _taken_addresses(base, domain))
    now = clock.now()
    uid = directory_rules.new_user_id()
    while Person.objects.filter(uid=uid).exists():
        uid = directory_rules.new_user_id()
    password = rules.temporary_password()
    user = get_user_model().objects.create_user(username=uid, password=password, email=address)
    person = Person.objects.create(uid=uid, title=row["title"], given_name=row["first_name"],
                                   family_name=row["last_name"], email=address, phone=row.get("mobile", ""),
                                   user=user, created_at=now, updated_at=now)
    ledger.record("person.created", actor=acting, target_type="person", target_id=person.pk, person_uid=uid,
                  organisation_code=unit.organisation.code,
                  after={"uid": uid, "title": person.title, "given_name": person.given_name,
                         "family_name": person.family_name, "email": address})
    try:
        with transaction.atomic():
            mailbox = Mailbox.objects.create(person=person, unit=unit, application=app, address=address,
                                             display_name=rules.display_name(row["first_name"], row["last_name"]),
                                             created_at=now, updated_at=now)
    except IntegrityError:
        raise Conflict(f"the address {address} was taken by another approval at the same moment; nothing was "
                       f"created: approve again") from None
    service = _mail_service()
    if service is not None:
        directory_services.create_account(acting, person, service, username=address, state="active")
    ledger.record("mailbox.created", actor=acting, target_type="mailbox", target_id=address, person_uid=uid,
                  organisation_code=unit.organisation.code,
                  after={"address": address, "display_name": mailbox.display_name, "unit": unit.code})
    cause = f"mailbox {address}"
    enqueue(to=nominee, kind="mailbox", cause=cause, subject=f"New mailbox account for {mailbox.display_name}",
            body=(f"A mailbox account has been created for {row['title']} {mailbox.display_name}.\n\n"
                  f"Username: {address}\n\nThe temporary password follows in a separate message. Please hand both "
                  f"on to them securely. At first sign-in they change the password, accept the acceptable use "
                  f"policy and complete their profile.\n"))
    enqueue(to=nominee, kind="credential", cause=cause, subject=f"Temporary password for {mailbox.display_name}",
            body=f"The temporary password for the account sent separately is:\n\n{password}\n")
    return mailbox


def _create_shared(acting: Actor, unit: OrganisationalUnit, app: Application | None, *, display_name: str,
                   home_name: str, location: str, hidden: bool, owner: str) -> SharedMailbox:
    errors = {}
    try:
        display_name = rules.check_shared_display_name(display_name)
    except ValueError as exc:
        errors["shared_display_name"] = str(exc)
    sponsor = unit.organisation
    try:
        address = rules.shared_address(sponsor.short_name or sponsor.code, home_name, location, policy.domain())
    except ValueError as exc:
        errors["location"] = str(exc)
    if errors:
        raise InvalidInput(errors)
    if SharedMailbox.objects.filter(address=address).exists() or Mailbox.objects.filter(address=address).exists():
        raise InvalidInput({"location": f"the address {address} is taken by another home of the same name: give a "
                                        f"more precise location, like {location.lower()}east or {location.lower()}west "
                                        f"(rule NM9)"})
    shared = SharedMailbox.objects.create(unit=unit, application=app, display_name=display_name, address=address,
                                          hidden=hidden, owner=owner, created_at=clock.now())
    ledger.record("mailbox.shared_created", actor=acting, target_type="shared_mailbox", target_id=address,
                  organisation_code=sponsor.code,
                  after={"address": address, "display_name": display_name, "hidden": hidden, "unit": unit.code})
    return shared


@transaction.atomic
def approve(actor: Actor, application, *, shared_display_name: str | None = None, location: str | None = None,
            hidden: bool = False) -> Application:
    """NM5 and NM7-NM9: approve and provision. The home becomes an organisational unit under the
    sponsor; its users and (at most) its shared mailbox are made, within the NM4 limits."""
    app = _locked(application)
    acting = permissions.authorise(actor, "mailbox.decide", app.sponsor)
    _open(app)
    if app.assessed_at is None:
        raise InvalidInput({"__all__": "Assess the application first: check the CQC number and the IG toolkit"})
    if app.cqc_home is None:
        raise InvalidInput({"cqc_number": cqc_mismatch(app.cqc_number)})
    if not app.ig_toolkit_checked:
        raise InvalidInput({"ig_toolkit": "The IG toolkit completion has not been confirmed; it cannot be approved "
                                          "(rule NM3)"})
    limits = policy.limits()
    individual_n, shared_n = rules.allowed_counts(len(app.individuals), 1 if app.shared_wanted else 0,
                                                  justification_accepted=app.justification_accepted, limits=limits)
    code = rules.unit_code(app.cqc_number)
    if OrganisationalUnit.objects.filter(organisation=app.sponsor, code=code).exists():
        raise Conflict(f"{app.sponsor.code} already has a unit for CQC number {app.cqc_number}")
    now = clock.now()
    unit = OrganisationalUnit.objects.create(organisation=app.sponsor, code=code, name=app.home_name, created_at=now)
    ledger.record("unit.created", actor=acting, target_type="organisationalunit", target_id=unit.pk,
                  organisation_code=app.sponsor.code, after={"code": code, "name": app.home_name, "parent": None})
    shared = None
    if shared_n:
        shared = _create_shared(acting, unit, app, hidden=hidden, owner=app.shared_owner,
                                display_name=shared_display_name or rules.suggest_shared_display_name(app.shared_name),
                                home_name=app.home_name, location=location or app.home_town)
    mailboxes = [_create_mailbox_user(acting, unit, app, row, app.applicant_email) for row in app.individuals[:individual_n]]
    app.state = Application.State.APPROVED
    app.unit = unit
    app.decided_at = app.updated_at = now
    app.decided_by_label = acting.label
    app.save()
    _audit("mailbox.application_approved", acting, app, after={
        "unit": code, "mailboxes": [m.address for m in mailboxes], "shared": shared.address if shared else None})
    limited = ""
    if individual_n < len(app.individuals) or (app.shared_wanted and not shared_n):
        limited = (f"\nYou asked for more accounts than the policy allows: only {individual_n + shared_n} have been "
                   f"created. Tell us if you have a business justification for more (rule NM4).\n")
    lines = "\n".join(f"- {m.display_name}: {m.address}" for m in mailboxes)
    enqueue(to=app.applicant_email, kind="mailbox", cause=f"mailbox application {app.reference}",
            subject=f"Your mailbox application {app.reference} has been approved",
            body=(f"Dear {app.applicant_name},\n\n{app.sponsor.name} has approved mailbox accounts for "
                  f"{app.home_name}.\n\nAccounts:\n{lines}\n"
                  + (f"Shared mailbox: {shared.display_name} ({shared.address})\n" if shared else "")
                  + limited + "\nEach account's username and temporary password follow in separate messages.\n"))
    return app


# --- first sign-in (NM8) ---

def pending_first_sign_in(person: Person) -> Mailbox | None:
    mailbox = Mailbox.objects.filter(person=person).first()
    if mailbox and (mailbox.must_change_password or not mailbox.aup_accepted_at or not mailbox.profile_completed_at):
        return mailbox
    return None


@transaction.atomic
def complete_first_sign_in(person: Person, *, new_password: str, confirm_password: str, accept_aup: bool,
                           job_title: str, mobile: str) -> Mailbox:
    """NM8: change the temporary password, accept the acceptable use policy, complete the profile;
    then the welcome message."""
    mailbox = Mailbox.objects.select_for_update(of=("self",)).select_related("person__user", "unit__organisation").filter(
        person=person).first()
    if mailbox is None or pending_first_sign_in(person) is None:
        raise Conflict("there is no first sign-in to complete for this account")
    user = mailbox.person.user
    errors = {}
    if not new_password:
        errors["new_password"] = "Enter a new password"
    elif user.check_password(new_password):
        errors["new_password"] = "Choose a new password, not the temporary one"
    else:
        try:
            validate_password(new_password, user)
        except ValidationError as exc:
            errors["new_password"] = " ".join(exc.messages)
    if new_password and new_password != confirm_password:
        errors["confirm_password"] = "The passwords do not match; type the new password twice"
    if not accept_aup:
        errors["accept_aup"] = "Confirm you accept the acceptable use policy"
    job_title = " ".join((job_title or "").split())
    if not job_title:
        errors["job_title"] = "Enter your job title"
    elif len(job_title) > 100:
        errors["job_title"] = "Use 100 characters or fewer"
    try:
        mobile = rules.clean_mobile(mobile)
    except ValueError as exc:
        errors["mobile"] = str(exc)[:1].upper() + str(exc)[1:]
    if errors:
        raise InvalidInput(errors)
    now = clock.now()
    user.set_password(new_password)
    user.save(update_fields=["password"])
    mailbox.must_change_password = False
    mailbox.aup_accepted_at = mailbox.profile_completed_at = mailbox.updated_at = now
    mailbox.job_title = job_title
    mailbox.save()
    Person.objects.filter(pk=person.pk).update(phone=mobile, updated_at=now)
    actor = permissions.actor_for_person(person)
    ledger.record("mailbox.first_sign_in", actor=actor, target_type="mailbox", target_id=mailbox.address,
                  person_uid=person.uid, organisation_code=mailbox.unit.organisation.code,
                  after={"password_changed": True, "aup_accepted_at": now.isoformat(), "job_title": job_title})
    enqueue(to=mailbox.address, kind="mailbox", cause=f"mailbox {mailbox.address}",
            subject="Welcome to your mailbox",
            body=(f"Dear {mailbox.display_name},\n\nWelcome. Your account {mailbox.address} is ready. For help, "
                  f"call your helpdesk on {policy.helpdesk_phone()}.\n"))
    return mailbox


# --- shared mailboxes (NM9) ---

def _unit_admin(actor: Actor, unit: OrganisationalUnit) -> Actor:
    return permissions.authorise(actor, "mailbox.manage", unit.organisation)


@transaction.atomic
def create_shared_mailbox(actor: Actor, unit: OrganisationalUnit, *, display_name: str, location: str,
                          hidden: bool = False, owner: str = "") -> SharedMailbox:
    acting = _unit_admin(actor, unit)
    return _create_shared(acting, unit, None, display_name=display_name, home_name=unit.name, location=location,
                          hidden=hidden, owner=owner)


@transaction.atomic
def set_hidden(actor: Actor, shared: SharedMailbox, hidden: bool) -> SharedMailbox:
    shared = SharedMailbox.objects.select_for_update(of=("self",)).select_related("unit__organisation").get(pk=shared.pk)
    acting = _unit_admin(actor, shared.unit)
    if shared.hidden != hidden:
        before = shared.hidden
        shared.hidden = hidden
        shared.save(update_fields=["hidden"])
        ledger.record("mailbox.shared_visibility", actor=acting, target_type="shared_mailbox", target_id=shared.address,
                      organisation_code=shared.unit.organisation.code, before={"hidden": before}, after={"hidden": hidden})
    return shared


@transaction.atomic
def add_member(actor: Actor, shared: SharedMailbox, mailbox: Mailbox, permission: str) -> Membership:
    """NM9: Send As or Full Access, for members of the same organisation only."""
    shared = SharedMailbox.objects.select_related("unit__organisation").get(pk=shared.pk)
    acting = _unit_admin(actor, shared.unit)
    if permission not in Membership.Permission.values:
        raise InvalidInput({"permission": "Choose Send As or Full Access"})
    if mailbox.unit_id != shared.unit_id:
        raise InvalidInput({"member": f"{mailbox.address} belongs to another organisation: shared mailbox members "
                                      f"must be from {shared.unit.name} (rule NM9)"})
    if Membership.objects.filter(shared_mailbox=shared, mailbox=mailbox, permission=permission).exists():
        raise Conflict(f"{mailbox.address} already has {permission.replace('_', ' ')} on {shared.address}")
    membership = Membership.objects.create(shared_mailbox=shared, mailbox=mailbox, permission=permission,
                                           created_at=clock.now())
    ledger.record("mailbox.member_added", actor=acting, target_type="shared_mailbox", target_id=shared.address,
                  person_uid=mailbox.person.uid, organisation_code=shared.unit.organisation.code,
                  after={"member": mailbox.address, "permission": permission})
    return membership


# --- ongoing (NM11) ---

@transaction.atomic
def delegate_helpdesk(actor: Actor, unit: OrganisationalUnit, person: Person) -> HelpdeskDelegation:
    """The primary administrator lets a helpdesk person unlock and reset passwords for the home."""
    acting = _unit_admin(actor, unit)
    if HelpdeskDelegation.objects.filter(unit=unit, person=person, revoked_at__isnull=True).exists():
        raise Conflict(f"{person.uid} is already the helpdesk for {unit.name}")
    delegation = HelpdeskDelegation.objects.create(unit=unit, person=person, delegated_by_label=acting.label,
                                                   created_at=clock.now())
    ledger.record("mailbox.helpdesk_delegated", actor=acting, target_type="organisationalunit", target_id=unit.pk,
                  person_uid=person.uid, organisation_code=unit.organisation.code,
                  after={"helpdesk": person.uid, "unit": unit.code})
    return delegation


def _helpdesk_or_admin(actor: Actor, unit: OrganisationalUnit) -> Actor:
    if actor.kind == "person" and HelpdeskDelegation.objects.filter(unit=unit, person_id=actor.person_id,
                                                                    revoked_at__isnull=True).exists():
        return actor
    try:
        return _unit_admin(actor, unit)
    except Forbidden:
        raise Forbidden(f"{actor.label} is neither an administrator of {unit.organisation.name} nor the helpdesk "
                        f"of {unit.name} (rule NM11)") from None


@transaction.atomic
def reset_password(actor: Actor, mailbox: Mailbox) -> Mailbox:
    mailbox = Mailbox.objects.select_for_update(of=("self",)).select_related("person__user", "unit__organisation").get(pk=mailbox.pk)
    acting = _helpdesk_or_admin(actor, mailbox.unit)
    password = rules.temporary_password()
    mailbox.person.user.set_password(password)
    mailbox.person.user.save(update_fields=["password"])
    mailbox.must_change_password = True
    mailbox.updated_at = clock.now()
    mailbox.save(update_fields=["must_change_password", "updated_at"])
    ledger.record("mailbox.password_reset", actor=acting, target_type="mailbox", target_id=mailbox.address,
                  person_uid=mailbox.person.uid, organisation_code=mailbox.unit.organisation.code)
    enqueue(to=mailbox.address, kind="credential", cause=f"mailbox {mailbox.address}",
            subject="Your temporary password", body=f"Your new temporary password is:\n\n{password}\n\n"
                                                      "Change it when you next sign in.\n")
    return mailbox


@transaction.atomic
def unlock(actor: Actor, mailbox: Mailbox) -> Mailbox:
    mailbox = Mailbox.objects.select_for_update(of=("self",)).select_related("person", "unit__organisation").get(pk=mailbox.pk)
    acting = _helpdesk_or_admin(actor, mailbox.unit)
    if mailbox.state != Mailbox.State.LOCKED:
        raise Conflict(f"{mailbox.address} is not locked")
    mailbox.state = Mailbox.State.ACTIVE
    mailbox.updated_at = clock.now()
    mailbox.save(update_fields=["state", "updated_at"])
    ledger.record("mailbox.unlocked", actor=acting, target_type="mailbox", target_id=mailbox.address,
                  person_uid=mailbox.person.uid, organisation_code=mailbox.unit.organisation.code,
                  before={"state": "locked"}, after={"state": "active"})
    return mailbox


def report_unneeded(actor: Actor, mailbox: Mailbox, *, reason: str):
    """NM11: a home reports an account it no longer needs; it becomes a deletion request (access
    requests), raised for the sponsor by the system on the home's behalf and submitted."""
    from careaccess.access_requests import services as requests

    mailbox = Mailbox.objects.select_related("person", "unit__organisation").get(pk=mailbox.pk)
    reason = (reason or "").strip()
    if not reason:
        raise InvalidInput({"reason": "Say why the account is no longer needed"})
    reporter = Mailbox.objects.filter(person_id=actor.person_id).first() if actor.kind == "person" else None
    from_home = reporter is not None and reporter.unit_id == mailbox.unit_id
    if not from_home:
        _helpdesk_or_admin(actor, mailbox.unit)
    service = _mail_service()
    if service is None:
        raise Conflict(f"there is no active {policy.service_code()} service to remove the account from")
    on_behalf = Actor.system(f"mailboxes: {mailbox.unit.name} via {actor.label}"[:200])
    return requests.raise_request(
        on_behalf, kind="deletion", organisation=mailbox.unit.organisation, service=service, submit=True,
        details={"person": mailbox.person.uid, "cause": "no longer needed"},
        note=f"{mailbox.address} reported no longer needed by {actor.label}: {reason}")
