import pytest

from careaccess.credentials import pki
from careaccess.directory import testing


@pytest.fixture(autouse=True)
def _quick_pin_hashes(settings):
    settings.PASSWORD_HASHERS = ["careaccess.credentials.testing.QuickArgon2PasswordHasher"]


@pytest.fixture
def pki_dir(settings, tmp_path):
    """A fresh CA under the test's tmp_path (never the repository)."""
    settings.CAREACCESS_PKI_DIR = str(tmp_path / "pki")
    settings.CAREACCESS_CRL_URL = "http://careaccess.test/pki/crl.der"
    pki.init()
    return tmp_path / "pki"


@pytest.fixture
def world(db, clock, pki_dir):
    """An ICB whose RA oversees a GP practice and a pharmacy, with staff in each."""
    testing.staff_catalogue()
    icb = testing.organisation("QWO", kind="icb", oversees_descendants=True)
    practice = testing.organisation("B86001", parent="QWO")
    pharmacy = testing.organisation("FA001", parent="QWO", kind="pharmacy")
    other_practice = testing.organisation("B86002", parent="QWO")

    class World:
        pass

    w = World()
    w.icb, w.practice, w.pharmacy, w.other_practice = icb, practice, pharmacy, other_practice
    w.agent = testing.staff(icb, "ra_agent", given_name="Rita", family_name="Agent")
    w.manager = testing.staff(icb, "ra_manager", given_name="Manny", family_name="Manager")
    w.sponsor = testing.staff(practice, "sponsor", given_name="Sam", family_name="Sponsor")
    w.other_sponsor = testing.staff(other_practice, "sponsor", given_name="Olive", family_name="Othersponsor")
    return w
