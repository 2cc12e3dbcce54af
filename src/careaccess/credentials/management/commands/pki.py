"""`careaccess pki init [--force]`, `careaccess pki show`, `careaccess pki crl [--out FILE]`: the
certificate authority. Keys are written under the PKI directory (VAR_DIR/pki) with mode 0600."""

from __future__ import annotations

import hashlib

from cryptography.hazmat.primitives import serialization
from django.db import transaction
from rich.console import Console
from rich.table import Table

from careaccess.core.context import Actor
from careaccess.core.management.actions import ActionCommand
from careaccess.credentials import pki, policy, selectors, services

ACTOR = Actor.system("cli")


class Command(ActionCommand):
    help = "Set up and inspect careaccess's certificate authority."

    def add_arguments(self, parser):
        sub = parser.add_subparsers(dest="action", required=True, metavar="{init,show,crl}")
        init = sub.add_parser("init", help="create the root and issuing CA and the card key-encryption key")
        init.add_argument("--force", action="store_true", help="replace an existing CA (old card certificates stop verifying)")
        sub.add_parser("show", help="the CA certificates, the newest CRL and the settings")
        crl = sub.add_parser("crl", help="publish a fresh CRL now (and write it to a file)")
        crl.add_argument("--out", default=None, help="also write the DER CRL to this file")

    def do_init(self, options):
        directory = pki.init(force=options["force"])
        issue = services.regenerate_crl(ACTOR)
        self.stdout.write(f"CA created in {directory} (keys mode 0600); CRL number {issue.id} published.")

    def do_show(self, options):
        ca = pki.load()
        table = Table(title="Certificate authority", title_justify="left")
        for column in ("certificate", "subject", "valid until", "SHA-256 fingerprint"):
            table.add_column(column, overflow="fold")
        for label, cert in (("root", ca.root), ("issuing", ca.issuing)):
            der = cert.public_bytes(serialization.Encoding.DER)
            table.add_row(label, cert.subject.rfc4514_string(), f"{cert.not_valid_after_utc:%Y-%m-%d}",
                          hashlib.sha256(der).hexdigest())
        console = Console(file=self.stdout, width=None if self.stdout.isatty() else 200, highlight=False)
        console.print(table)
        crl = selectors.latest_crl()
        console.print(f"Newest CRL: {'none' if crl is None else f'number {crl.id}, {crl.revoked_count} revoked, next update {crl.next_update:%Y-%m-%d %H:%M} UTC'}")
        console.print(f"Directory: {ca.directory}")
        for name, value in policy.as_dict().items():
            console.print(f"{name} = {value}")

    def do_crl(self, options):
        with transaction.atomic():
            issue = services.regenerate_crl(ACTOR)
        if options["out"]:
            with open(options["out"], "wb") as out:
                out.write(bytes(issue.der))
        self.stdout.write(f"CRL number {issue.id} published with {issue.revoked_count} revoked certificates.")
