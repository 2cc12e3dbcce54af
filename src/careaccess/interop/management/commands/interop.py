"""`careaccess interop scopes PREFIX [SCOPE ...]`: give an API token exactly these SCIM/FHIR scopes
(none removes them); `careaccess interop scopes PREFIX --show` prints them."""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError

from careaccess.core.context import Actor
from careaccess.core.errors import CareAccessError
from careaccess.core.models import ApiToken
from careaccess.interop import access
from careaccess.interop.models import SCOPES, ClientScope

ACTOR = Actor.system("cli")


class Command(BaseCommand):
    help = "Scopes of API tokens for the SCIM and FHIR endpoints."

    def add_arguments(self, parser):
        sub = parser.add_subparsers(dest="action", required=True, metavar="{scopes}")
        scopes = sub.add_parser("scopes", help="set (or --show) a token's scopes: " + ", ".join(
            f"{name} ({what})" for name, what in sorted(SCOPES.items())))
        scopes.add_argument("prefix", help="the token's prefix, from `careaccess token list`")
        scopes.add_argument("scopes", nargs="*", metavar="SCOPE", help=", ".join(sorted(SCOPES)))
        scopes.add_argument("--show", action="store_true", help="print the token's scopes and change nothing")

    def handle(self, *args, **options):
        prefix = options["prefix"]
        try:
            if options["show"]:
                if not ApiToken.objects.filter(prefix=prefix).exists():
                    raise CommandError(f"no API token has the prefix {prefix}")
                row = ClientScope.objects.filter(token__prefix=prefix).first()
                self.stdout.write(" ".join(sorted(row.scope_set())) if row else "(no scopes)")
                return
            access.set_scopes(ACTOR, prefix, options["scopes"])
        except CareAccessError as exc:
            raise CommandError(exc.message) from exc
        self.stdout.write(f"Token {prefix} now has the scopes: {' '.join(sorted(options['scopes'])) or '(none)'}")
