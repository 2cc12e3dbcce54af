"""The NHS.UK error summary every page builds from a form's or a service's errors (web.forms)."""

from django import forms

from careaccess.web.forms import error_list, error_summary


def test_errors_follow_the_pages_field_order_capitalised_and_linked_to_their_inputs():
    errors = {"successor": "the successor must be another organisation", "on": "give the date",
              "__all__": "Nothing could be recorded", "organisation": "Enter the code"}
    assert error_summary(errors, ["organisation", "on"], {"on": "on_day"}) == [
        {"text": "Enter the code", "href": "#organisation"},
        {"text": "Give the date", "href": "#on_day"},
        {"text": "The successor must be another organisation", "href": "#successor"},
        {"text": "Nothing could be recorded", "href": "#main-content"},
    ]
    assert error_summary({"__all__": "Choose one"}, anchors={"__all__": "decision"}) == [
        {"text": "Choose one", "href": "#decision"}]
    assert error_summary({}) == []


class _Form(forms.Form):
    name = forms.CharField(error_messages={"required": "Enter a name"})
    email = forms.EmailField(error_messages={"required": "Enter an email address"})

    def clean(self):
        raise forms.ValidationError("Check the whole form")


def test_a_forms_errors_link_to_its_prefixed_inputs_whole_form_errors_first():
    form = _Form({}, prefix="new")
    assert not form.is_valid()
    assert error_list(form) == [
        {"text": "Check the whole form", "href": "#new-name"},
        {"text": "Enter a name", "href": "#new-name"},
        {"text": "Enter an email address", "href": "#new-email"},
    ]
    assert error_list(_Form({}), "email")[0] == {"text": "Check the whole form", "href": "#email"}
