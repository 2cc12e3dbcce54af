"""Builders for tests: a small directory made through the real service functions."""

from __future__ import annotations

import itertools

from django.conf import settings

from careaccess.core import permissions
from careaccess.core.context import Actor

from . import services
from .models import Activity, Organisation, Person, Position

SYSTEM = Actor.system("test")
_ni_numbers = (f"AB{n:06d}C" for n in itertools.count(100000))


def staff_catalogue() -> None:
    """The staff activity codes (settings.CAREACCESS_STAFF_ACTIVITIES) and two clinical ones."""
    for name, code in settings.CAREACCESS_STAFF_ACTIVITIES.items():
        if not Activity.objects.filter(code=code).exists():
            services.upsert_activity(SYSTEM, code=code, name=name.replace("_", " ").title())
    services.upsert_activity(SYSTEM, code="B0820", name="View Patient Demographics")
    services.upsert_activity(SYSTEM, code="B0825", name="Amend Patient Demographics", includes=["B0820"])


def organisation(code: str, *, parent: str | None = None, kind: str = "gp_practice", **extra) -> Organisation:
    existing = Organisation.objects.filter(code=code).first()
    return existing or services.create_organisation(SYSTEM, code=code, name=f"Organisation {code}", kind=kind, parent=parent, **extra)


def person(given_name: str = "Alex", family_name: str = "Taylor", **extra) -> Person:
    return services.create_person(SYSTEM, given_name=given_name, family_name=family_name, ni_number=next(_ni_numbers),
                                  email=f"{given_name}.{family_name}@example.nhs.uk".lower(), **extra)


def position(org: Organisation, name: str, *, capabilities=(), activities=(), **extra) -> Position:
    codes = [settings.CAREACCESS_STAFF_ACTIVITIES[c] for c in capabilities] + list(activities)
    return services.create_position(SYSTEM, org, name=name, activities=codes, **extra)


def staff(org: Organisation, *capabilities: str, name: str | None = None, **person_fields) -> Actor:
    """A person placed in a new position at `org` carrying `capabilities`; returns them as an actor."""
    who = person(**person_fields) if person_fields else person(given_name=name or "_".join(capabilities) or "Staff")
    pos = position(org, f"{'/'.join(capabilities)} {who.uid}", capabilities=capabilities)
    services.create_assignment(SYSTEM, who, pos)
    return permissions.actor_for_person(who)
