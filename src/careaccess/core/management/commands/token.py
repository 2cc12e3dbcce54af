"""`careaccess token create (--person UID | --service CODE) [--name NAME]`, `careaccess token revoke
PREFIX` and `careaccess token list`: API bearer tokens for relying services and staff."""

from __future__ import annotations

from django.core.management.base import CommandError
from django.utils import timezone
from rich.console import Console
from rich.table import Table
from rich.text import Text

from careaccess.core import tokens
from careaccess.core.context import Actor
from careaccess.core.management.actions import ActionCommand
from careaccess.directory.models import Person, Service

ACTOR = Actor.system("cli")


def _when(instant) -> str:
    return "-" if instant is None else timezone.localtime(instant).strftime("%Y-%m-%d %H:%M")


class Command(ActionCommand):
    help = "Create, revoke and list API bearer tokens."

    def add_arguments(self, parser):
        sub = parser.add_subparsers(dest="action", required=True, metavar="{create,revoke,list}")
        create = sub.add_parser("create", help="make a token and print its secret (shown once)")
        whom = create.add_mutually_exclusive_group(required=True)
        whom.add_argument("--person", metavar="UID", help="the token acts as this person (12-digit user id)")
        whom.add_argument("--service", metavar="CODE", help="the token acts as this relying service")
        create.add_argument("--name", default=None, help="what the token is for (default: who it acts for)")
        revoke = sub.add_parser("revoke", help="revoke a token at once")
        revoke.add_argument("prefix", help="the token's prefix, from `careaccess token list`")
        revoke.add_argument("--reason", default="", help="why, for the audit ledger")
        listing = sub.add_parser("list", help="show tokens (never their secrets)")
        listing.add_argument("--all", action="store_true", help="include revoked tokens")

    def do_create(self, options):
        person = service = None
        if options["person"]:
            person = Person.objects.filter(uid=options["person"].strip()).first()
            if person is None:
                raise CommandError(f"no person has the user id {options['person']}")
            default_name = f"{person.given_name} {person.family_name}"
        else:
            service = Service.objects.filter(code=options["service"].strip()).first()
            if service is None:
                raise CommandError(f"no service has the code {options['service']}")
            default_name = service.name
        token, secret = tokens.create_token(ACTOR, options["name"] or default_name, person=person, service=service)
        self.stderr.write(f"Token {token.prefix} '{token.name}' created. Its secret is shown once; keep it now:")
        self.stdout.write(secret)

    def do_revoke(self, options):
        token = tokens.revoke_token(ACTOR, options["prefix"], reason=options["reason"])
        self.stdout.write(f"Token {token.prefix} '{token.name}' revoked.")

    def do_list(self, options):
        queryset = tokens.tokens()
        if not options["all"]:
            queryset = queryset.filter(revoked_at__isnull=True)
        table = Table(title="API tokens", title_justify="left")
        for column in ("prefix", "name", "acts as", "created", "last used", "revoked"):
            table.add_column(column, overflow="fold")
        rows = list(queryset)
        for token in rows:
            acts_as = f"person {token.person.uid}" if token.person_id else f"service {token.service.code}"
            table.add_row(Text(token.prefix), Text(token.name), Text(acts_as), Text(_when(token.created_at)),
                          Text(_when(token.last_used_at)), Text(_when(token.revoked_at)))
        console = Console(file=self.stdout, width=None if self.stdout.isatty() else 200, highlight=False)
        if rows:
            console.print(table)
        else:
            console.print("No tokens.")
