"""`careaccess pki ...`, `careaccess cards ...` and `careaccess identity ...`."""

import io
import stat

import pytest
from django.core.management import CommandError, call_command

from careaccess.credentials import testing
from careaccess.credentials.models import Card, CrlIssue
from careaccess.identity.models import TermsVersion

pytestmark = pytest.mark.django_db


def run(*args, stdin: str | None = None) -> str:
    out = io.StringIO()
    if stdin is not None:
        import sys

        old, sys.stdin = sys.stdin, io.StringIO(stdin)
        try:
            call_command(*args, stdout=out, stderr=io.StringIO())
        finally:
            sys.stdin = old
    else:
        call_command(*args, stdout=out, stderr=io.StringIO())
    return out.getvalue()


def test_pki_init_show_and_crl(settings, tmp_path, clock):
    settings.CAREACCESS_PKI_DIR = str(tmp_path / "ca")
    before = CrlIssue.objects.count()
    assert "CA created" in run("pki", "init")
    assert stat.S_IMODE((tmp_path / "ca" / "issuing.key").stat().st_mode) == 0o600
    assert CrlIssue.objects.count() == before + 1
    with pytest.raises(CommandError, match="already exists"):
        run("pki", "init")
    shown = run("pki", "show")
    assert "Card Issuing CA" in shown and "CAREACCESS_CERTIFICATE_VALIDITY_DAYS = 730" in shown
    assert "published" in run("pki", "crl", "--out", str(tmp_path / "crl.der"))
    assert (tmp_path / "crl.der").read_bytes() == bytes(CrlIssue.objects.order_by("-id").first().der)


def test_cards_commands(world, tmp_path):
    holder = testing.verified_person(world.practice)
    issued = run("cards", "issue", "--person", holder.uid, "--pin-stdin", stdin="12345678\n")
    card = Card.objects.get(person=holder)
    assert f"Card {card.serial} issued to {holder.uid}" in issued
    with pytest.raises(CommandError, match="6 to 8 digits"):
        run("cards", "issue", "--person", holder.uid, "--pin-stdin", stdin="12\n")
    assert card.serial in run("cards", "list", "--person", holder.uid)
    assert "renewed" in run("cards", "renew", card.serial)
    with pytest.raises(CommandError, match="not locked"):
        run("cards", "unlock", card.serial, "--holder-present", "--pin-stdin", stdin="87654321\n")
    with pytest.raises(CommandError, match="DS3"):
        run("cards", "unlock", card.serial, "--pin-stdin", stdin="87654321\n")
    assert "cancelled" in run("cards", "cancel", card.serial, "--reason", "damaged")
    replaced = run("cards", "replace", card.serial, "--reason", "damaged")
    new = Card.objects.get(replaces=card)
    assert f"Card {new.serial} issued locked" in replaced
    assert "unlocked" in run("cards", "unlock", new.serial, "--holder-present", "--pin-stdin", stdin="87654321\n")
    assert "opened" in run("cards", "misuse", new.serial, "--description", "shared with a colleague")
    from careaccess.credentials.models import MisuseReport

    report = MisuseReport.objects.get(card=new)
    assert "suspended" in run("cards", "decide", str(report.id), "--outcome", "suspended", "--reason", "checking")
    assert "reinstated" in run("cards", "reinstate", new.serial, "--reason", "cleared")


def test_identity_commands(world, tmp_path, clock):
    terms = tmp_path / "terms.txt"
    terms.write_text("RA01 Part A: keep your card safe.", encoding="utf-8")
    assert "published" in run("identity", "terms-publish", "--kind", "user", "--version", "RA01-1", "--title", "RA01",
                               "--file", str(terms))
    assert TermsVersion.objects.filter(kind="user", version="RA01-1").exists()
    holder = testing.verified_person(world.practice)
    assert "level 3 (high)" in run("identity", "assurance", holder.uid)
    assert "0 RA agent role(s) removed" in run("identity", "sweep-ra-agents")


def test_cards_answer_plays_the_card_software_for_the_sign_in_page(client, clock, pki_dir):
    """`careaccess cards answer`: the PIN, then the software card signs the page's challenge; the
    two printed values sign the holder in on /account/card-sign-in (issue 5 item 5, DS8)."""
    import re

    from django.contrib.auth import get_user_model

    from careaccess.directory.models import Person

    holder = testing.verified_person(given_name="Holly", family_name="Holder")
    Person.objects.filter(pk=holder.pk).update(
        user=get_user_model().objects.create_user(username=holder.uid, password="not used here 123"))
    card = testing.card_for(holder)
    page = client.get("/account/card-sign-in").content.decode()
    nonce = re.search(r'data-nonce="([^"]+)"', page).group(1)
    challenge = re.search(r'id="challenge"[^>]*>([^<]+)<', page).group(1)

    with pytest.raises(CommandError, match="copy the challenge exactly"):
        run("cards", "answer", card.serial, "--challenge", "not base64!", "--pin-stdin", stdin=testing.PIN + "\n")
    with pytest.raises(CommandError, match="PIN"):
        run("cards", "answer", card.serial, "--challenge", challenge, "--pin-stdin", stdin="000000\n")
    card.refresh_from_db()
    assert card.pin_tries == 1  # a wrong PIN counts, as on a real card (DS8)

    printed = run("cards", "answer", card.serial, "--challenge", challenge, "--pin-stdin", stdin=testing.PIN + "\n")
    lines = printed.splitlines()
    certificate = lines[lines.index("Card certificate (base64 DER):") + 1]
    signature = lines[lines.index("Signature over the challenge (base64):") + 1]
    signed_in = client.post("/account/card-sign-in", {"nonce": nonce, "certificate": certificate, "signature": signature})
    assert signed_in.status_code == 302 and client.session["careaccess.amr"] == ["sc"]
