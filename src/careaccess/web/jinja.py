"""The Jinja environment for pages: NHS.UK frontend macros plus Django's url(), static() and csrf
(Django's Jinja2 backend puts `request`, `csrf_input` and `csrf_token` in every page's context)."""

from django.conf import settings
from django.templatetags.static import static
from django.urls import NoReverseMatch, reverse
from django.utils import timezone
from pathlib import Path

from django.apps import apps
from jinja2 import ChainableUndefined, ChoiceLoader, Environment, FileSystemLoader, PackageLoader


def url_or_none(name: str, *args, **kwargs) -> str | None:
    """The URL of a named page, or None while that page does not exist yet."""
    try:
        return reverse(name, args=args or None, kwargs=kwargs or None)
    except NoReverseMatch:
        return None


def field_error(form, name: str):
    """The errorMessage parameter of an NHS.UK form macro for one field (None when it is valid)."""
    if form is None or not form.is_bound:
        return None
    messages = form.errors.get(name)
    return {"text": messages[0]} if messages else None


def field_value(form, name: str):
    """A bound field's submitted value, to show it again (None for an unbound form)."""
    if form is None:
        return None
    value = form[name].value()
    return value if value not in (None, "") else None


def nhsuk_stylesheet() -> str:
    """The NHS.UK frontend's CSS: as published, with its web fonts, when CAREACCESS_NHSUK_WEB_FONTS
    is on; otherwise the copy `make assets` writes without them."""
    fonts = "" if settings.CAREACCESS_NHSUK_WEB_FONTS else "-system-fonts"
    return static(f"nhsuk/nhsuk/nhsuk-frontend{fonts}.min.css")


def local_time(instant, fmt: str = "%d %B %Y at %H:%M") -> str:
    return "" if instant is None else timezone.localtime(instant).strftime(fmt)


def long_date(day) -> str:
    """A date the NHS.UK way: "1 December 2026" (no leading zero); "" for none."""
    return "" if day is None else f"{day.day} {day:%B %Y}"


def _shell(request):
    """The signed-in person for the header; None on pages rendered without a request (a 500)."""
    from django.http import HttpRequest

    from .auth import shell

    return shell(request) if isinstance(request, HttpRequest) else None


def environment(**options):
    # nhsuk-frontend-jinja's macros expect ChainableUndefined (see its README).
    options["undefined"] = ChainableUndefined
    # Django's Jinja2 backend looks in each app's `jinja2/` folder; careaccess apps keep their
    # pages in `templates/` (DESIGN.md), so those folders are searched too, then the NHS.UK macros.
    template_dirs = [str(Path(app.path) / "templates") for app in apps.get_app_configs()
                     if app.name.startswith("careaccess") and (Path(app.path) / "templates").is_dir()]
    options["loader"] = ChoiceLoader([options["loader"], FileSystemLoader(template_dirs),
                                      PackageLoader("nhsuk_frontend_jinja")])
    env = Environment(**options)
    env.globals.update({
        "static": static,
        "nhsuk_stylesheet": nhsuk_stylesheet,
        "url": reverse,
        "url_or_none": url_or_none,
        "field_error": field_error,
        "field_value": field_value,
        "web_shell": _shell,
        "service_name": "careaccess",
    })
    env.filters["local_time"] = local_time
    env.filters["long_date"] = long_date
    return env
