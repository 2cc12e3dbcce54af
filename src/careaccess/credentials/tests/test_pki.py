"""The certificate authority: keys under var/pki with mode 0600, card certificates bound to the
user id and valid 2 years (DS13), the CRL regenerated on every revocation and served at a stable URL."""

import datetime as dt
import stat
import subprocess

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from django.test import RequestFactory

from careaccess.core.errors import InvalidInput
from careaccess.credentials import pki, services, testing, views
from careaccess.credentials.models import CrlIssue


def test_pki_init_writes_keys_with_mode_0600_and_refuses_to_overwrite(settings, tmp_path, clock):
    settings.CAREACCESS_PKI_DIR = str(tmp_path / "pki")
    directory = pki.init()
    for name in ("root.key", "issuing.key", "card-kek.key"):
        assert stat.S_IMODE((directory / name).stat().st_mode) == 0o600
    assert stat.S_IMODE(directory.stat().st_mode) == 0o700
    with pytest.raises(InvalidInput, match="already exists"):
        pki.init()
    authority = pki.load()
    root, issuing = authority.root, authority.issuing
    root.verify_directly_issued_by(root)  # self-signed
    issuing.verify_directly_issued_by(root)
    assert issuing.extensions.get_extension_for_class(x509.BasicConstraints).value.path_length == 0
    assert root.extensions.get_extension_for_class(x509.BasicConstraints).value.ca


@pytest.mark.django_db
def test_card_certificate_is_bound_to_the_uid_and_valid_two_years(world):
    # rule DS13: certificates are valid 2 years; rule DS16: the card holds only the user id
    holder = testing.verified_person(world.practice)
    card = testing.card_for(holder)
    cert = x509.load_der_x509_certificate(bytes(card.certificate.der))
    cert.verify_directly_issued_by(pki.load().issuing)
    assert cert.subject.get_attributes_for_oid(NameOID.SERIAL_NUMBER)[0].value == holder.uid
    assert [a.oid for a in cert.subject] == [NameOID.SERIAL_NUMBER, NameOID.COMMON_NAME]
    san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert san.get_values_for_type(x509.UniformResourceIdentifier) == [f"urn:careaccess:uid:{holder.uid}"]
    assert cert.not_valid_after_utc - cert.not_valid_before_utc == dt.timedelta(days=730)
    assert cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value == x509.ExtendedKeyUsage(
        [ExtendedKeyUsageOID.CLIENT_AUTH])
    points = cert.extensions.get_extension_for_class(x509.CRLDistributionPoints).value
    assert points[0].full_name[0].value == "http://careaccess.test/pki/crl.der"
    # The public key in the certificate is the card's own (from the CSR made with the card's key pair).
    assert cert.public_key().public_bytes(serialization.Encoding.DER,
                                          serialization.PublicFormat.SubjectPublicKeyInfo) == bytes(card.public_key_der)
    assert format(cert.serial_number, "x") == card.certificate.serial


@pytest.mark.django_db
def test_the_crl_is_regenerated_on_every_revocation_and_served_at_a_stable_url(world):
    holder = testing.verified_person(world.practice)
    first = testing.card_for(holder)
    other = testing.card_for(testing.verified_person(world.practice))
    numbers = []
    for card, reason in ((first, "lost"), (other, "damaged")):
        before = CrlIssue.objects.count()
        services.cancel_card(world.agent, card, reason=reason)
        assert CrlIssue.objects.count() == before + 1
        crl = x509.load_der_x509_crl(bytes(CrlIssue.objects.order_by("-id").first().der))
        assert crl.is_signature_valid(pki.load().issuing.public_key())
        numbers.append(crl.extensions.get_extension_for_class(x509.CRLNumber).value.crl_number)
    assert numbers[1] > numbers[0]
    revoked = {format(r.serial_number, "x"): r for r in crl}
    assert set(revoked) == {first.certificate.serial, other.certificate.serial}
    assert revoked[first.certificate.serial].extensions.get_extension_for_class(x509.CRLReason).value.reason == \
        x509.ReasonFlags.key_compromise
    response = views.crl(RequestFactory().get("/pki/crl.der"))
    assert response.status_code == 200 and response["Content-Type"] == "application/pkix-crl"
    served = x509.load_der_x509_crl(response.content)
    assert served.extensions.get_extension_for_class(x509.CRLNumber).value.crl_number == numbers[1]


@pytest.mark.django_db
def test_crl_view_says_when_nothing_is_published(db):
    CrlIssue.objects.all().delete()
    response = views.crl(RequestFactory().get("/pki/crl.der"))
    assert response.status_code == 503


@pytest.mark.django_db
def test_openssl_verifies_the_chain_and_sees_the_revocation(world, tmp_path):
    holder = testing.verified_person(world.practice)
    card = testing.card_for(holder)
    directory = pki.load().directory
    leaf = tmp_path / "card.pem"
    leaf.write_bytes(x509.load_der_x509_certificate(bytes(card.certificate.der)).public_bytes(serialization.Encoding.PEM))
    chain = ["openssl", "verify", "-attime", str(int(card.certificate.not_before.timestamp()) + 60),
             "-CAfile", str(directory / "root.pem"), "-untrusted", str(directory / "issuing.pem")]
    ok = subprocess.run([*chain, "-purpose", "sslclient", str(leaf)], capture_output=True, text=True)
    assert ok.returncode == 0 and ": OK" in ok.stdout, ok.stdout + ok.stderr
    services.cancel_card(world.agent, card, reason="stolen")
    crl = tmp_path / "crl.pem"
    crl.write_bytes(x509.load_der_x509_crl(bytes(CrlIssue.objects.order_by("-id").first().der)).public_bytes(
        serialization.Encoding.PEM))
    revoked = subprocess.run([*chain, "-crl_check", "-CRLfile", str(crl), str(leaf)], capture_output=True, text=True)
    assert revoked.returncode != 0 and "revoked" in (revoked.stdout + revoked.stderr)
