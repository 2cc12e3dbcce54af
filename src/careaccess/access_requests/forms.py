"""The forms of the access request pages. They only gather what was typed (and check that dates are
real dates); every domain rule is the service's, whose `InvalidInput` errors are put back on the
fields they name (`add_service_errors`), so each problem is said once, where it is fixed.

Dates use the NHS.UK date input: three boxes (`<field>_day`, `_month`, `_year`) joined here into
an ISO date for the service."""

from __future__ import annotations

import datetime as dt

from django import forms

from . import rules, services
from .models import Evidence

# field -> (label, widget, hint). Widgets: text, email, date, textarea, select, yesno, radios.
FIELDS: dict[str, tuple[str, str, str]] = {
    "title": ("Title (optional)", "text", "For example, Dr, Mrs or Mr"),
    "given_name": ("Given name", "text", ""),
    "family_name": ("Family name", "text", ""),
    "date_of_birth": ("Date of birth", "date", "For example, 2 4 1985"),
    "ni_number": ("National Insurance number", "text", "It's on a National Insurance card, payslip or P60. "
                                                       "For example, QQ 12 34 56 C"),
    "email": ("Email address", "email", "The person's own address, used by them alone: not a shared or generic "
                                        "address such as info@ or office@"),
    "phone": ("Contact telephone number", "text", ""),
    "position": ("Position", "select", "Access comes only through positions: choose the job they will do"),
    "service_role": ("Role on the service", "select", "Choose the least role that lets them do their job"),
    "temporary": ("Are they temporary staff or a locum?", "yesno", "Temporary staff need an end date"),
    "ends_on": ("End date (optional)", "date", "When the access ends. Required for temporary staff"),
    "professional_registration": ("Professional registration number (optional)", "text",
                                  "For example, a GMC, NMC or GPhC number"),
    "person": ("User ID", "text", "The person's 12-digit user ID"),
    "replaces_assignment": ("Assignment it replaces (optional)", "text",
                            "The number of the position assignment this one replaces, which then ends"),
    "requested_from": ("Email address the reinstatement was asked from (optional)", "email",
                       "It must be the address on the person's record"),
    "leaving_on": ("Leaving date (optional)", "date", "Leave it empty if they have already left"),
    "cause": ("Why does the access end?", "radios", ""),
    "starts_on": ("Start date (optional)", "date", "Leave it empty to start today"),
    "assignment": ("Assignment to end", "text", "The number of the person's position assignment"),
    "description": ("What is the access for, and why?", "textarea", "Describe the research or audit"),
}
CAUSES = [("leaver", "They are leaving"), ("inactivity", "The account has not been used"),
          ("no longer needed", "They no longer need it")]
DATE_PARTS = ("day", "month", "year")


def date_part_names(name: str) -> list[str]:
    return [f"{name}_{part}" for part in DATE_PARTS]


def _join_date(form: forms.Form, name: str, label: str) -> str | None:
    """The ISO date typed in the three boxes, None when all are empty; adds the NHS.UK message otherwise."""
    parts = {part: (form.cleaned_data.get(f"{name}_{part}") or "").strip() for part in DATE_PARTS}
    given = [p for p in DATE_PARTS if parts[p]]
    if not given:
        return None
    missing = [p for p in DATE_PARTS if not parts[p]]
    if missing:
        form.add_error(f"{name}_{missing[0]}", f"{label} must include a {' and a '.join(missing)}")
        return None
    try:
        if not all(parts[p].isdigit() for p in DATE_PARTS) or len(parts["year"]) != 4:
            raise ValueError
        return dt.date(int(parts["year"]), int(parts["month"]), int(parts["day"])).isoformat()
    except ValueError:
        form.add_error(f"{name}_day", f"{label} must be a real date")
        return None


def field_label(name: str) -> str:
    return FIELDS[name][0].replace(" (optional)", "") if name in FIELDS else name.replace("_", " ").capitalize()


class DatesMixin:
    """Adds three boxes per name in `date_fields` and joins them in `clean`."""

    date_fields: tuple[str, ...] = ()
    date_labels: dict[str, str] = {}

    def _add_date_fields(self):
        for name in self.date_fields:
            for part_name in date_part_names(name):
                self.fields[part_name] = forms.CharField(required=False, max_length=4)

    def _clean_dates(self, data):
        for name in self.date_fields:
            data[name] = _join_date(self, name, self.date_labels.get(name) or field_label(name))
        return data

    def date_items(self, name: str) -> list[dict]:
        """The dateInput macro's items: ids and names with the form's prefix, the typed values kept."""
        wrong = any(self.errors.get(p) for p in date_part_names(name)) if self.is_bound else False
        items = []
        for part in DATE_PARTS:
            field = self.add_prefix(f"{name}_{part}")
            items.append({"id": field, "name": field, "label": part.capitalize(),
                          "value": self.data.get(field, "") if self.is_bound else "",
                          "width": 4 if part == "year" else 2, "classes": "nhsuk-input--error" if wrong else ""})
        return items

    def date_error(self, name: str):
        if not self.is_bound:
            return None
        for part_name in date_part_names(name):
            if self.errors.get(part_name):
                return {"text": self.errors[part_name][0]}
        return None


def add_service_errors(form: forms.Form, errors: dict[str, str], aliases: dict[str, str] | None = None) -> None:
    """Put a service's InvalidInput errors on the fields they name (the others above the form)."""
    aliases = aliases or {}
    for key, message in errors.items():
        text = message[:1].upper() + message[1:]
        name = aliases.get(key, key)
        if name in getattr(form, "date_fields", ()):
            name = f"{name}_day"
        form.add_error(name if name in form.fields else None, text)


# --- raising a request ---

class ChooseForm(forms.Form):
    """Step one: what kind of request, for which organisation and service."""

    kind = forms.ChoiceField(choices=list(rules.KIND_LABELS.items()),
                             error_messages={"required": "Select the type of request",
                                             "invalid_choice": "Select one of the types of request listed"})
    organisation = forms.ChoiceField(choices=(), error_messages={
        "required": "Select the organisation the request is for",
        "invalid_choice": "Select one of the organisations you may raise requests for"})
    service = forms.ChoiceField(choices=(), required=False, error_messages={
        "invalid_choice": "Select one of the services listed"})

    def __init__(self, *args, organisations=(), services_=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["organisation"].choices = [("", "Select an organisation")] + [
            (o.code, f"{o.name} ({o.code})") for o in organisations]
        self.fields["service"].choices = [("", "No particular service")] + [(s.code, s.name) for s in services_]

    def clean(self):
        data = super().clean()
        if data.get("kind") in rules.SERVICE_KINDS and not data.get("service"):
            self.add_error("service", f"Select the service: a {rules.KIND_LABELS[data['kind']].lower()} request "
                                      f"is about an account on one")
        return data


def _position_label(position) -> str:
    """The position's name, with the roles it gives on the chosen service when they were looked up."""
    giving = getattr(position, "giving", None)
    return f"{position.name} (gives: {', '.join(r.name for r in giving)})" if giving else position.name


class RequestForm(DatesMixin, forms.Form):
    """Step two: the fields of one kind of request (services.KIND_FIELDS), plus a note."""

    def __init__(self, *args, kind: str, positions=(), roles=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.kind = kind
        self.kind_fields = services.KIND_FIELDS[kind]
        self.date_fields = tuple(f for f in self.kind_fields if FIELDS.get(f, ("", "text"))[1] == "date")
        self.choices = {
            "position": [("", "Select a position")] + [(str(p.pk), _position_label(p)) for p in positions],
            "service_role": [("", "Select a role")] + [(r.code, r.name) for r in roles],
            "cause": CAUSES,
            "temporary": [("no", "No"), ("yes", "Yes")],
        }
        for name in self.kind_fields:
            widget = FIELDS[name][1]
            if widget == "date":
                continue
            self.fields[name] = forms.CharField(required=False, max_length=2000 if widget == "textarea" else 200,
                                                error_messages={"max_length": f"{field_label(name)} is too long"})
        self._add_date_fields()
        # the three boxes of a date where the date is in the form, so errors are listed in page order
        self.order_fields([part for name in self.kind_fields
                           for part in (date_part_names(name) if name in self.date_fields else [name])])
        if kind == rules.Kind.SECONDARY_PURPOSE:
            self.fields["purpose"] = forms.CharField(required=False, max_length=100)
        self.fields["note"] = forms.CharField(required=False, max_length=2000,
                                              error_messages={"max_length": "Note must be 2000 characters or fewer"})
        self.fields["special_circumstances"] = forms.CharField(
            required=False, max_length=2000,
            error_messages={"max_length": "Special circumstances must be 2000 characters or fewer"})

    def clean(self):
        return self._clean_dates(super().clean())

    def details(self) -> dict[str, str]:
        """What the service is given: the kind's fields that were filled in (and, on a form with errors,
        read without one)."""
        data = self.cleaned_data
        return {name: data[name] for name in self.kind_fields if data.get(name) not in (None, "")}

    def has_problem(self, name: str) -> bool:
        """Is an error already shown for the field (for a date: on any of its three boxes)?"""
        return any(self.errors.get(n) for n in (name, *date_part_names(name)))

    def layout(self) -> list[dict]:
        """One entry per input, in the kind's order, for the template."""
        rows = []
        for name in self.kind_fields:
            label, widget, hint = FIELDS[name]
            if widget == "select" and not self.choices.get(name)[1:]:
                widget = "text"  # nothing to choose from: type it
            rows.append({"name": name, "label": label, "widget": widget, "hint": hint,
                         "choices": self.choices.get(name, [])})
        return rows


# --- acting on a request ---

class ActionForm(DatesMixin, forms.Form):
    """Every action posts the version of the request the page showed (optimistic locking)."""

    version = forms.IntegerField(min_value=1, error_messages={"required": "Reload the page and try again",
                                                              "invalid": "Reload the page and try again"})

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._add_date_fields()

    def clean(self):
        return self._clean_dates(super().clean())

    def arguments(self) -> dict:
        return {}


class ValidateForm(ActionForm):
    ticket_reference = forms.CharField(required=False, max_length=60, error_messages={
        "max_length": "Ticket reference must be 60 characters or fewer"})

    def arguments(self):
        return {"ticket_reference": self.cleaned_data.get("ticket_reference", "")}


class ApproveForm(ActionForm):
    """Rule CC9: the authoriser's confirmations."""

    least_role = forms.BooleanField(required=False)
    told_not_to_view_own_records = forms.BooleanField(required=False)
    date_fields = ("ig_training_on", "ends_on")
    date_labels = {"ig_training_on": "Date of IG training", "ends_on": "End date"}

    def arguments(self):
        data = self.cleaned_data
        return {"confirmations": services.Confirmations(
            least_role=data.get("least_role", False),
            told_not_to_view_own_records=data.get("told_not_to_view_own_records", False),
            ig_training_on=data.get("ig_training_on"), ends_on=data.get("ends_on"))}


class ReasonForm(ActionForm):
    reason = forms.CharField(required=False, max_length=2000, error_messages={
        "max_length": "Reasons must be 2000 characters or fewer"})

    def arguments(self):
        return {"reason": self.cleaned_data.get("reason", "")}


class InformationForm(ActionForm):
    information = forms.CharField(required=False, max_length=4000, error_messages={
        "max_length": "Information must be 4000 characters or fewer"})

    def arguments(self):
        return {"information": self.cleaned_data.get("information", "")}


ACTION_FORMS: dict[str, type[ActionForm]] = {
    rules.Action.SUBMIT: ActionForm,
    rules.Action.VALIDATE: ValidateForm,
    rules.Action.APPROVE: ApproveForm,
    rules.Action.FULFIL: ActionForm,
    rules.Action.REJECT: ReasonForm,
    rules.Action.WITHDRAW: ReasonForm,
    rules.Action.REFER: ReasonForm,
    rules.Action.REQUEST_INFORMATION: ReasonForm,
    rules.Action.PROVIDE_INFORMATION: InformationForm,
}


class EvidenceForm(forms.Form):
    """A check or confirmation recorded before fulfilment (SC7, PP12, PP14)."""

    kind = forms.ChoiceField(choices=Evidence.Kind.choices, error_messages={
        "required": "Select what was checked or confirmed", "invalid_choice": "Select one of the checks listed"})
    details = forms.CharField(required=False, max_length=2000)
    confirmed_by_name = forms.CharField(required=False, max_length=200)
    confirmed_by_role = forms.CharField(required=False, max_length=200)


# --- batches ---

class BatchForm(forms.Form):
    organisation = forms.ChoiceField(choices=(), error_messages={
        "required": "Select the organisation the batch is for",
        "invalid_choice": "Select one of the organisations you may raise requests for"})
    service = forms.ChoiceField(choices=(), required=False, error_messages={
        "invalid_choice": "Select one of the services listed"})
    file = forms.FileField(error_messages={"required": "Select a CSV file", "empty": "The selected file is empty",
                                           "invalid": "Select a CSV file"})

    MAX_BYTES = 2 * 1024 * 1024

    def __init__(self, *args, organisations=(), services_=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["organisation"].choices = [("", "Select an organisation")] + [
            (o.code, f"{o.name} ({o.code})") for o in organisations]
        self.fields["service"].choices = [("", "No particular service")] + [(s.code, s.name) for s in services_]

    def clean_file(self):
        upload = self.cleaned_data["file"]
        if upload.size > self.MAX_BYTES:
            raise forms.ValidationError("The selected file must be smaller than 2MB")
        if not upload.name.lower().endswith(".csv"):
            raise forms.ValidationError("The selected file must be a CSV")
        try:
            return upload.name, upload.read().decode("utf-8-sig")
        except UnicodeDecodeError:
            raise forms.ValidationError("The selected file must be a CSV saved as UTF-8") from None
