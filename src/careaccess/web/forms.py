"""The shell's forms. Messages follow the NHS.UK error message pattern: say what went wrong and
how to fix it. Templates render them with the macros in `web/forms.jinja`."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

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


def error_summary(errors: Mapping[str, str | Sequence[str]], order: Sequence[str] = (),
                  anchors: Mapping[str, str] | None = None) -> list[dict[str, str]]:
    """The NHS.UK error summary's items for errors by field (a service's `InvalidInput.errors`, a
    form's errors): in the page's field order (`order`, then the rest as given), each message
    capitalised and linking to its input. `anchors` maps a field to its input's id where the two
    differ; errors about no one field ("__all__") link to the main content unless it names another."""
    anchors = {"__all__": "main-content", **(anchors or {})}
    keys = [key for key in order if key in errors] + [key for key in errors if key not in order]
    items = []
    for key in keys:
        messages = [errors[key]] if isinstance(errors[key], str) else errors[key]
        items.extend({"text": message[:1].upper() + message[1:], "href": f"#{anchors.get(key, key)}"}
                     for message in messages)
    return items


def error_list(form: forms.Form, first_field: str | None = None) -> list[dict[str, str]]:
    """A bound form's error summary (`error_summary`): links use the form's prefix; errors about the
    whole form come first and link to `first_field`, by default the form's first field."""
    fields = list(form.fields)
    first = first_field or next(iter(fields), None)
    anchors = {name: form.add_prefix(name) for name in fields}
    if first:
        anchors["__all__"] = form.add_prefix(first)
    errors = {"__all__": form.non_field_errors(), **{name: form.errors[name] for name in fields if name in form.errors}}
    return error_summary(errors, ["__all__", *fields], anchors)
