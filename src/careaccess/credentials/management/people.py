"""What the credentials commands share: finding the person a command line names."""

from django.core.management.base import CommandError

from careaccess.directory.models import Person


def person_by_uid(uid: str) -> Person:
    person = Person.objects.filter(uid=str(uid).strip()).first()
    if person is None:
        raise CommandError(f"no person has the user id {uid}")
    return person
