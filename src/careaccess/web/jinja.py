"""The Jinja environment for pages: NHS.UK frontend macros plus Django's url(), static() and csrf."""

from django.templatetags.static import static
from django.urls import reverse
from jinja2 import ChainableUndefined, ChoiceLoader, Environment, PackageLoader


def environment(**options):
    # nhsuk-frontend-jinja's macros expect ChainableUndefined (see its README).
    options["undefined"] = ChainableUndefined
    options["loader"] = ChoiceLoader([options["loader"], PackageLoader("nhsuk_frontend_jinja")])
    env = Environment(**options)
    env.globals.update({"static": static, "url": reverse})
    return env
