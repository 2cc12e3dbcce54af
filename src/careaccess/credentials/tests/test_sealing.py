"""TOTP secrets sealed at rest: the database holds only a Fernet token, the keys live in a 0600
file under the data folder made when first needed, sign-in still checks codes, and a key rotation
reseals every secret (older keys retired on request)."""

import datetime as dt
import io
import re
import stat

import pyotp
import pytest
from cryptography.fernet import Fernet, InvalidToken
from django.core.management import call_command
from django.db import connection

from careaccess.core.audit.models import Entry
from careaccess.core.context import Actor
from careaccess.core.errors import Forbidden
from careaccess.credentials import authenticators, sealing
from careaccess.credentials.models import TotpDevice
from careaccess.web.tests.conftest import organisation, person, place, sign_in, staff_catalogue

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _keys_in_tmp(settings, tmp_path):
    settings.PASSWORD_HASHERS = ["careaccess.credentials.testing.QuickArgon2PasswordHasher"]
    settings.CAREACCESS_TOTP_KEYS = str(tmp_path / "keys" / "totp.keys")


@pytest.fixture
def sponsor(db, clock):
    staff_catalogue()
    who = person("Sam", "Sponsor")
    place(who, organisation("A81001", name="Riverside Surgery"), "Practice manager", "sponsor")
    return who


def stored(device) -> str:
    with connection.cursor() as cursor:
        cursor.execute("SELECT sealed_secret FROM credentials_totpdevice WHERE id = %s", [device.pk])
        return cursor.fetchone()[0]


def enrol(client, who, clock) -> str:
    sign_in(client, who.uid)
    page = client.get("/account/security/authenticator-app").content.decode()
    secret = re.search(r'id="totp-secret"[^>]*>([A-Z2-7]+)<', page).group(1)
    client.post("/account/security/authenticator-app", {"code": pyotp.TOTP(secret).at(clock.now())})
    client.post("/sign-out")
    return secret


def signs_in_with_code(client, who, secret, clock) -> bool:
    clock.advance(dt.timedelta(minutes=1))
    assert sign_in(client, who.uid).url == "/account/verify"
    response = client.post("/account/verify", {"code": pyotp.TOTP(secret).at(clock.now())})
    client.post("/sign-out")
    return response.status_code == 302 and response.url == "/"


def test_the_database_holds_a_sealed_token_not_the_secret_and_sign_in_still_works(client, sponsor, clock, tmp_path):
    secret = enrol(client, sponsor, clock)
    device = TotpDevice.objects.get(person=sponsor, confirmed_at__isnull=False)
    column = stored(device)
    assert secret not in column and column.startswith("gAAAAA")  # a Fernet token
    assert device.secret == secret
    key_file = tmp_path / "keys" / "totp.keys"
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert Fernet(key_file.read_bytes().split()[0]).decrypt(column.encode()).decode() == secret
    assert signs_in_with_code(client, sponsor, secret, clock)


def test_rotation_reseals_every_secret_and_can_retire_the_old_key(client, sponsor, clock, tmp_path):
    secret = enrol(client, sponsor, clock)
    device = TotpDevice.objects.get(person=sponsor, confirmed_at__isnull=False)
    key_file = tmp_path / "keys" / "totp.keys"
    old_key, before = key_file.read_bytes().split()[0], stored(device)

    assert authenticators.rotate_sealing_key(Actor.system("test")) >= 1
    keys = key_file.read_bytes().split()
    assert len(keys) == 2 and keys[1] == old_key
    after = stored(device)
    assert after != before and Fernet(keys[0]).decrypt(after.encode()).decode() == secret

    out = io.StringIO()
    call_command("authenticators", "rotate-key", "--retire-old", stdout=out)
    assert "resealed with a new key" in out.getvalue() and "older keys retired" in out.getvalue()
    keys = key_file.read_bytes().split()
    assert len(keys) == 1 and old_key not in keys
    with pytest.raises(InvalidToken):
        Fernet(old_key).decrypt(stored(device).encode())
    assert signs_in_with_code(client, sponsor, secret, clock)
    assert Entry.objects.filter(action="authenticator.sealing_key_rotated").count() == 2


def test_only_the_ra_manager_or_the_console_rotates(sponsor):
    with pytest.raises(Forbidden):
        authenticators.rotate_sealing_key(authenticators.permissions.actor_for_person(sponsor))


def test_a_lost_key_file_is_said_plainly(client, sponsor, clock, tmp_path):
    enrol(client, sponsor, clock)
    device = TotpDevice.objects.get(person=sponsor, confirmed_at__isnull=False)
    (tmp_path / "keys" / "totp.keys").write_bytes(Fernet.generate_key() + b"\n")
    with pytest.raises(sealing.SealError, match="restore the key file from backup"):
        device.secret
