"""careaccess's own certificate authority, with the `cryptography` library.

`init()` (`careaccess pki init`) makes, under the PKI directory (settings VAR_DIR/pki, never the
repository), with mode 0600 for every key:

    root.key  root.pem        a self-signed root (ECDSA P-384, 20 years)
    issuing.key issuing.pem   the issuing CA signed by the root (ECDSA P-256, 10 years, path length 0)
    card-kek.key              the AES-256 key that encrypts software cards' private keys at rest

Card certificates are bound to the holder's 12-digit user id: it is the subject's serialNumber
and CN (a card holds the user id only, rule DS16) and a `urn:careaccess:uid:<uid>` URI in the
subjectAltName. They are valid `CAREACCESS_CERTIFICATE_VALIDITY_DAYS` (2 years, rule DS13).
"""

from __future__ import annotations

import datetime as dt
import os
import threading
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from careaccess.core.errors import CareAccessError, InvalidInput

from . import policy

UID_URI_PREFIX = "urn:careaccess:uid:"
FILES = ("root.key", "root.pem", "issuing.key", "issuing.pem", "card-kek.key")


class PkiNotReady(CareAccessError):
    status = 503
    title = "Certificate authority not set up"


@dataclass(frozen=True)
class Authority:
    directory: Path
    root: x509.Certificate
    issuing: x509.Certificate
    issuing_key: ec.EllipticCurvePrivateKey
    kek: bytes


_lock = threading.Lock()
_cache: dict[Path, tuple[float, Authority]] = {}


def _write_private(path: Path, data: bytes) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.write(fd, data)
    finally:
        os.close(fd)
    os.chmod(path, 0o600)


def _key_pem(key) -> bytes:
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())


def _ca_extensions(builder, key, issuer_key, path_length):
    return (
        builder.add_extension(x509.BasicConstraints(ca=True, path_length=path_length), critical=True)
        .add_extension(x509.KeyUsage(digital_signature=False, content_commitment=False, key_encipherment=False,
                                     data_encipherment=False, key_agreement=False, key_cert_sign=True, crl_sign=True,
                                     encipher_only=False, decipher_only=False), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer_key.public_key()), critical=False)
    )


def init(directory: Path | None = None, *, force: bool = False, now: dt.datetime | None = None) -> Path:
    """Create the root, the issuing CA and the card key-encryption key. Refuses to overwrite."""
    from careaccess.core import clock

    directory = Path(directory or policy.pki_dir())
    now = now or clock.now()
    if (directory / "issuing.key").exists() and not force:
        raise InvalidInput(f"a CA already exists in {directory}; use --force only to start a new CA "
                           f"(every card certificate issued by the old one stops verifying)")
    directory.mkdir(parents=True, exist_ok=True)
    os.chmod(directory, 0o700)
    name = policy.ca_name()
    start = now - dt.timedelta(minutes=5)
    root_key = ec.generate_private_key(ec.SECP384R1())
    root_name = x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, name),
                           x509.NameAttribute(NameOID.COMMON_NAME, f"{name} Root CA")])
    root = _ca_extensions(
        x509.CertificateBuilder().subject_name(root_name).issuer_name(root_name).public_key(root_key.public_key())
        .serial_number(x509.random_serial_number()).not_valid_before(start)
        .not_valid_after(start + dt.timedelta(days=365 * 20)), root_key, root_key, None,
    ).sign(root_key, hashes.SHA384())
    issuing_key = ec.generate_private_key(ec.SECP256R1())
    issuing_name = x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, name),
                              x509.NameAttribute(NameOID.COMMON_NAME, f"{name} Card Issuing CA")])
    issuing = _ca_extensions(
        x509.CertificateBuilder().subject_name(issuing_name).issuer_name(root_name)
        .public_key(issuing_key.public_key()).serial_number(x509.random_serial_number())
        .not_valid_before(start).not_valid_after(start + dt.timedelta(days=365 * 10)), issuing_key, root_key, 0,
    ).sign(root_key, hashes.SHA384())
    _write_private(directory / "root.key", _key_pem(root_key))
    _write_private(directory / "issuing.key", _key_pem(issuing_key))
    _write_private(directory / "card-kek.key", os.urandom(32))
    (directory / "root.pem").write_bytes(root.public_bytes(serialization.Encoding.PEM))
    (directory / "issuing.pem").write_bytes(issuing.public_bytes(serialization.Encoding.PEM))
    with _lock:
        _cache.pop(directory, None)
    return directory


def is_ready(directory: Path | None = None) -> bool:
    directory = Path(directory or policy.pki_dir())
    return all((directory / f).exists() for f in FILES)


def load(directory: Path | None = None) -> Authority:
    """The CA, read once per process (re-read when the issuing key file changes)."""
    directory = Path(directory or policy.pki_dir())
    try:
        stamp = (directory / "issuing.key").stat().st_mtime
    except FileNotFoundError:
        raise PkiNotReady(f"no certificate authority in {directory}; run `careaccess pki init` first") from None
    with _lock:
        cached = _cache.get(directory)
        if cached and cached[0] == stamp:
            return cached[1]
    authority = Authority(
        directory=directory,
        root=x509.load_pem_x509_certificate((directory / "root.pem").read_bytes()),
        issuing=x509.load_pem_x509_certificate((directory / "issuing.pem").read_bytes()),
        issuing_key=serialization.load_pem_private_key((directory / "issuing.key").read_bytes(), password=None),
        kek=(directory / "card-kek.key").read_bytes(),
    )
    with _lock:
        _cache[directory] = (stamp, authority)
    return authority


def uid_of(certificate: x509.Certificate) -> str | None:
    """The 12-digit user id a card certificate is bound to (its subject serialNumber)."""
    values = certificate.subject.get_attributes_for_oid(NameOID.SERIAL_NUMBER)
    return str(values[0].value) if values else None


def issue_certificate(csr: x509.CertificateSigningRequest, *, uid: str, not_before: dt.datetime,
                      not_after: dt.datetime) -> x509.Certificate:
    """Sign a card certificate from the card's CSR, after checking the CSR's own signature and that
    it names the person it is issued to."""
    authority = load()
    if not csr.is_signature_valid:
        raise InvalidInput({"csr": "the certificate signing request's signature does not verify; make it again on the card"})
    if uid_of_name(csr.subject) != uid:
        raise InvalidInput({"csr": f"the request names user id {uid_of_name(csr.subject)}, not {uid}"})
    public_key = csr.public_key()
    subject = x509.Name([x509.NameAttribute(NameOID.SERIAL_NUMBER, uid), x509.NameAttribute(NameOID.COMMON_NAME, uid)])
    builder = (
        x509.CertificateBuilder().subject_name(subject).issuer_name(authority.issuing.subject).public_key(public_key)
        .serial_number(x509.random_serial_number()).not_valid_before(not_before).not_valid_after(not_after)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.KeyUsage(digital_signature=True, content_commitment=False, key_encipherment=False,
                                     data_encipherment=False, key_agreement=False, key_cert_sign=False, crl_sign=False,
                                     encipher_only=False, decipher_only=False), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False)
        .add_extension(x509.SubjectAlternativeName([x509.UniformResourceIdentifier(UID_URI_PREFIX + uid)]), critical=False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public_key), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(authority.issuing_key.public_key()), critical=False)
        .add_extension(x509.CRLDistributionPoints([x509.DistributionPoint(
            full_name=[x509.UniformResourceIdentifier(policy.crl_url())], relative_name=None, reasons=None,
            crl_issuer=None)]), critical=False)
    )
    return builder.sign(authority.issuing_key, hashes.SHA256())


def uid_of_name(name: x509.Name) -> str | None:
    values = name.get_attributes_for_oid(NameOID.SERIAL_NUMBER)
    return str(values[0].value) if values else None


REASONS = {
    "key_compromise": x509.ReasonFlags.key_compromise,
    "cessation_of_operation": x509.ReasonFlags.cessation_of_operation,
    "superseded": x509.ReasonFlags.superseded,
    "affiliation_changed": x509.ReasonFlags.affiliation_changed,
    "privilege_withdrawn": x509.ReasonFlags.privilege_withdrawn,
    "unspecified": x509.ReasonFlags.unspecified,
}


def build_crl(entries, *, number: int, this_update: dt.datetime, next_update: dt.datetime) -> bytes:
    """A DER CRL signed by the issuing CA. `entries`: (serial as int, revoked_at, reason name)."""
    authority = load()
    revoked = []
    for serial, revoked_at, reason in entries:
        entry = x509.RevokedCertificateBuilder().serial_number(serial).revocation_date(revoked_at)
        flag = REASONS.get(reason)
        if flag is not None and flag is not x509.ReasonFlags.unspecified:
            entry = entry.add_extension(x509.CRLReason(flag), critical=False)
        revoked.append(entry.build())
    # The whole list is given to the builder at once: add_revoked_certificate copies it every time.
    builder = (
        x509.CertificateRevocationListBuilder(revoked_certificates=revoked).issuer_name(authority.issuing.subject)
        .last_update(this_update).next_update(next_update)
        .add_extension(x509.CRLNumber(number), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(authority.issuing_key.public_key()),
                       critical=False)
    )
    return builder.sign(authority.issuing_key, hashes.SHA256()).public_bytes(serialization.Encoding.DER)
