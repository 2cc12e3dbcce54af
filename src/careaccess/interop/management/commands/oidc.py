"""`careaccess oidc client add|list` and `careaccess oidc rotate-key`: the OpenID Connect provider's
relying services and its signing keys."""

from __future__ import annotations

import json
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from careaccess.core.context import Actor
from careaccess.core.errors import CareAccessError
from careaccess.interop.oidc import claims, services
from careaccess.interop.oidc.models import OidcClient

ACTOR = Actor.system("cli")


class Command(BaseCommand):
    help = "OpenID Connect provider: register relying services, rotate the ID-token signing key."

    def add_arguments(self, parser):
        sub = parser.add_subparsers(dest="action", required=True, metavar="{client,rotate-key}")
        client = sub.add_parser("client", help="relying services (clients)")
        client_sub = client.add_subparsers(dest="client_action", required=True, metavar="{add,list}")
        add = client_sub.add_parser("add", help="register a relying service; prints its client id (and secret)")
        add.add_argument("--name", required=True)
        add.add_argument("--redirect-uri", action="append", required=True, dest="redirect_uris",
                         help="an exact redirect URI (repeat for several)")
        add.add_argument("--auth-method", choices=OidcClient.AuthMethod.values, default="client_secret_basic")
        add.add_argument("--jwks", help="a file holding the client's public JWKS (private_key_jwt)")
        add.add_argument("--scope", help="space-separated scopes it may ask for (default: all of "
                         + ", ".join(claims.SCOPES) + ")")
        add.add_argument("--backchannel-logout-uri", default="")
        add.add_argument("--service", help="the code of the directory service it speaks for; its sign-in policy "
                         "applies (a card-only service is told only of card sign-ins: rule DS18)")
        client_sub.add_parser("list", help="list the registered relying services")
        sub.add_parser("rotate-key", help="make a new signing key; the previous public key stays in the JWKS")

    def handle(self, *args, **options):
        try:
            if options["action"] == "rotate-key":
                old, new = services.rotate_signing_key(ACTOR)
                self.stdout.write(f"Signing key {new} now signs; {old} stays published until the next rotation.")
            elif options["client_action"] == "list":
                for c in OidcClient.objects.select_related("service").order_by("id"):
                    self.stdout.write(f"{c.client_id}\t{c.name}\t{c.auth_method}\t{c.service.code if c.service else '-'}"
                                      f"\t{' '.join(c.redirect_uri_list())}")
            else:
                jwks = json.loads(Path(options["jwks"]).read_text()) if options["jwks"] else None
                client, secret = services.add_client(
                    ACTOR, name=options["name"], redirect_uris=options["redirect_uris"],
                    auth_method=options["auth_method"], jwks=jwks, scope=options["scope"],
                    backchannel_logout_uri=options["backchannel_logout_uri"], service=options["service"])
                self.stdout.write(f"client_id: {client.client_id}")
                if secret:
                    self.stdout.write(f"client_secret: {secret}  (shown once; only its digest is kept)")
        except (CareAccessError, OSError, ValueError) as exc:
            raise CommandError(getattr(exc, "message", str(exc))) from exc
