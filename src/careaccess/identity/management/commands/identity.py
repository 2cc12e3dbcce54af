"""`careaccess identity ...`: terms and the RA agent training sweep from the console.

    careaccess identity terms-publish --kind {user,ra_agent,sponsor} --version V --title T --file PATH
    careaccess identity assurance UID
    careaccess identity sweep-ra-agents        # remove RA agents untrained by their deadline (DS10)
    careaccess identity training UID --kind {ig,ra_agent,actioning} --completed-on YYYY-MM-DD
        [--service CODE] [--valid-until YYYY-MM-DD]   # actioning: trained to action requests (PP5)
"""

from __future__ import annotations

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from careaccess.core.context import Actor
from careaccess.core.errors import CareAccessError
from careaccess.directory.models import Person, Service
from careaccess.identity import rules, selectors, services
from careaccess.identity.models import TermsVersion, TrainingRecord

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
        training = sub.add_parser("training", help="record a training a person completed (CC9, DS10, PP5)")
        training.add_argument("uid")
        training.add_argument("--kind", required=True, choices=TrainingRecord.Kind.values,
                              help="ig: information governance; ra_agent: the RA agent course; actioning: "
                                   "training to action requests (needed to fulfil them, PP5)")
        training.add_argument("--completed-on", required=True, help="YYYY-MM-DD")
        training.add_argument("--service", help="actioning only: the service's code (default: every service)")
        training.add_argument("--valid-until", help="actioning only: the last day it is current (YYYY-MM-DD)")

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

    def do_training(self, options):
        person = Person.objects.filter(uid=options["uid"].strip()).first()
        if person is None:
            raise CommandError(f"no person has the user id {options['uid']}")
        service = None
        if options["service"]:
            service = Service.objects.filter(code=options["service"]).first()
            if service is None:
                raise CommandError(f"no service has the code {options['service']}; leave out --service for every service")
        record = services.record_training(ACTOR, person, kind=options["kind"], completed_on=options["completed_on"],
                                          service=service, valid_until=options["valid_until"])
        scope = f" for {service.name if service else 'every service'}" if record.kind == "actioning" else ""
        self.stdout.write(f"{record.get_kind_display()}{scope} recorded for {person.uid}, completed "
                          f"{record.completed_on:%Y-%m-%d}.")

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
