"""Builders for the web shell's tests: people, organisations and positions made through the
directory's service functions, each person with a staff sign-in (Person.user) and a password."""

from __future__ import annotations

import itertools

import pytest
from django.conf import settings
from django.contrib.auth import get_user_model

from careaccess.core.context import Actor
from careaccess.directory import services
from careaccess.directory.models import Activity, Organisation, Person

SYSTEM = Actor.system("test")
PASSWORD = "correct horse battery staple"
_numbers = itertools.count(100000)


def staff_catalogue() -> None:
    for name, code in settings.CAREACCESS_STAFF_ACTIVITIES.items():
        if not Activity.objects.filter(code=code).exists():
            services.upsert_activity(SYSTEM, code=code, name=name.replace("_", " ").capitalize())
    services.upsert_activity(SYSTEM, code="B0820", name="View Patient Demographics")
    services.upsert_activity(SYSTEM, code="B0825", name="Amend Patient Demographics", includes=["B0820"])


def organisation(code: str, **extra) -> Organisation:
    existing = Organisation.objects.filter(code=code).first()
    return existing or services.create_organisation(
        SYSTEM, code=code, name=extra.pop("name", f"Surgery {code}"), kind=extra.pop("kind", "gp_practice"), **extra)


def person(given_name: str = "Alex", family_name: str = "Taylor", *, password: str | None = PASSWORD, **extra) -> Person:
    n = next(_numbers)
    who = services.create_person(SYSTEM, given_name=given_name, family_name=family_name, ni_number=f"AB{n:06d}C",
                                 email=extra.pop("email", f"{given_name}.{family_name}.{n}@example.nhs.uk".lower()),
                                 **extra)
    if password is not None:
        # No service gives people a sign-in yet; tests make the Django user directly.
        user = get_user_model().objects.create_user(username=who.uid, password=password)
        Person.objects.filter(pk=who.pk).update(user=user)
        who.refresh_from_db()
    return who


def place(who: Person, org: Organisation, name: str, *capabilities: str, activities=(), **extra):
    codes = [settings.CAREACCESS_STAFF_ACTIVITIES[c] for c in capabilities] + list(activities)
    position = services.create_position(SYSTEM, org, name=name, activities=codes, **extra)
    return services.create_assignment(SYSTEM, who, position)


@pytest.fixture
def catalogue(db):
    staff_catalogue()


@pytest.fixture
def sponsor(catalogue):
    """Sam Sponsor, sponsor at one GP practice (one staff position)."""
    org = organisation("A81001", name="Riverside Surgery")
    who = person("Sam", "Sponsor")
    assignment = place(who, org, "Practice manager", "sponsor")
    return who, assignment


def sign_in(client, username: str, password: str = PASSWORD, **extra):
    return client.post("/sign-in", {"username": username, "password": password, **extra})


def squash(html) -> str:
    """Page HTML with runs of whitespace made one space and none before a tag's closing '>'
    (the NHS.UK macros indent generously)."""
    import re

    if isinstance(html, bytes):
        html = html.decode()
    elif hasattr(html, "content"):
        html = html.content.decode()
    return re.sub(r"\s+>", ">", re.sub(r"\s+", " ", html))
