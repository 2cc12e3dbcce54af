"""`careaccess identity ...`: terms and the RA agent training sweep from the console.

    careaccess identity terms-publish --kind {user,ra_agent,sponsor} --version V --title T --file PATH
    careaccess identity assurance UID
    careaccess identity sweep-ra-agents        # remove RA agents untrained by their deadline (DS10)
"""

from __future__ import annotations

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from careaccess.core.context import Actor
from careaccess.core.errors import CareAccessError
from careaccess.directory.models import Person
from careaccess.identity import rules, selectors, services
from careaccess.identity.models import TermsVersion

ACTOR = Actor.system("cli")


class Command(BaseCommand):
    help = "Terms, identity assurance and the RA agent training deadline sweep."

    def add_arguments(self, parser):
        sub = parser.add_subparsers(dest="action", required=True)
        publish = sub.add_parser("terms-publish", help="publish a new version of terms")
        publish.add_argument("--kind", required=True, choices=TermsVersion.Kind.values)
        publish.add_argument("--version", required=True, dest="terms_version")
        publish.add_argument("--title", required=True)
        publish.add_argument("--file", required=True, help="a text file with the terms")
        assurance = sub.add_parser("assurance", help="a person's identity assurance level")
        assurance.add_argument("uid")
        sub.add_parser("sweep-ra-agents", help="remove the role of RA agents untrained by their deadline (DS10)")

    def handle(self, *args, **options):
        try:
            getattr(self, "do_" + options["action"].replace("-", "_"))(options)
        except CareAccessError as exc:
            raise CommandError(exc.message) from exc

    def do_terms_publish(self, options):
        text = Path(options["file"]).read_text(encoding="utf-8")
        terms = services.publish_terms(ACTOR, kind=options["kind"], version=options["terms_version"],
                                       title=options["title"], text=text)
        self.stdout.write(f"{terms.kind} terms version {terms.version} published (sha256 {terms.sha256}).")

    def do_assurance(self, options):
        person = Person.objects.filter(uid=options["uid"].strip()).first()
        if person is None:
            raise CommandError(f"no person has the user id {options['uid']}")
        check = selectors.latest_check(person)
        if check is None:
            self.stdout.write(f"{person.uid}: identity never checked (level 0).")
        else:
            self.stdout.write(f"{person.uid}: level {check.assurance_level} ({rules.LEVEL_NAMES[check.assurance_level]}),"
                              f" checked {check.checked_at:%Y-%m-%d} by {check.checked_by_label}.")

    def do_sweep_ra_agents(self, options):
        removed = services.remove_untrained_ra_agents(ACTOR)
        for appointment in removed:
            self.stdout.write(f"RA agent role removed from {appointment.person.uid} (training was due "
                              f"{appointment.training_due_on:%Y-%m-%d}).")
        self.stdout.write(f"{len(removed)} RA agent role(s) removed.")
