"""The shell's forms. Messages follow the NHS.UK error message pattern: say what went wrong and
how to fix it. Templates render them with the macros in `web/forms.jinja`."""

from __future__ import annotations

from django import forms


class SignInForm(forms.Form):
    username = forms.CharField(
        max_length=254, strip=True,
        error_messages={"required": "Enter your user ID or email address",
                        "max_length": "User ID or email address must be 254 characters or fewer"},
    )
    password = forms.CharField(
        max_length=4096, strip=False,
        error_messages={"required": "Enter your password", "max_length": "Password must be 4096 characters or fewer"},
    )


class ChoosePositionForm(forms.Form):
    assignment = forms.TypedChoiceField(
        coerce=int, choices=(),
        error_messages={"required": "Select the position you act in",
                        "invalid_choice": "Select one of the positions listed"},
    )

    def __init__(self, *args, grants=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.grants = list(grants)
        self.fields["assignment"].choices = [(g.assignment_id, g.position_label) for g in self.grants]


def error_list(form: forms.Form, first_field: str | None = None) -> list[dict[str, str]]:
    """The form's errors as the error summary's list, each linking to its field."""
    fields = list(form.fields)
    anchor = first_field or (fields[0] if fields else "")
    items = []
    for message in form.non_field_errors():
        items.append({"text": message, "href": f"#{anchor}"})
    for name in fields:
        for message in form.errors.get(name, []):
            items.append({"text": message, "href": f"#{name}"})
    return items
