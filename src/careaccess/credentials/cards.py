"""The smartcard behind a small interface.

`SmartCard` is what careaccess needs of a card: its public key, a certificate signing request
made with its key pair, a PIN check and a signature over a challenge. `SoftwareCard` implements it
in software: its ECDSA P-256 private key never leaves the card object and is stored in the card's
row encrypted (AES-256-GCM, the card serial as associated data) with the key-encryption key under
var/pki. A PKCS#11 implementation (a hardware token) would implement the same protocol.

The PIN check goes through `services.verify_pin`, which keeps the only PIN state (a hash and the
wrong-PIN counter, audited) and locks the card after 3 wrong PINs; `sign` refuses until the PIN
has been verified on this card object.
"""

from __future__ import annotations

import os
from typing import Protocol, runtime_checkable

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.x509.oid import NameOID

from careaccess.core.errors import Forbidden

SIGNATURE_ALGORITHM = ec.ECDSA(hashes.SHA256())


@runtime_checkable
class SmartCard(Protocol):
    serial: str

    def public_key(self) -> ec.EllipticCurvePublicKey: ...

    def certificate_signing_request(self, uid: str) -> x509.CertificateSigningRequest: ...

    def verify_pin(self, pin: str) -> None: ...

    def sign(self, data: bytes) -> bytes: ...


def encrypt_key(key: ec.EllipticCurvePrivateKey, serial: str, kek: bytes) -> bytes:
    nonce = os.urandom(12)
    plain = key.private_bytes(serialization.Encoding.DER, serialization.PrivateFormat.PKCS8,
                              serialization.NoEncryption())
    return nonce + AESGCM(kek).encrypt(nonce, plain, serial.encode())


def decrypt_key(blob: bytes, serial: str, kek: bytes) -> ec.EllipticCurvePrivateKey:
    blob = bytes(blob)
    plain = AESGCM(kek).decrypt(blob[:12], blob[12:], serial.encode())
    return serialization.load_der_private_key(plain, password=None)


class SoftwareCard:
    """A card emulated in software; the private key stays inside this object."""

    def __init__(self, serial: str, key: ec.EllipticCurvePrivateKey):
        self.serial = serial
        self.__key = key
        self.__pin_verified = False

    @classmethod
    def generate(cls, serial: str) -> "SoftwareCard":
        """A new card with a key pair generated on it."""
        return cls(serial, ec.generate_private_key(ec.SECP256R1()))

    @classmethod
    def open(cls, card_row, kek: bytes | None = None) -> "SoftwareCard":
        """The software card stored in a `Card` row."""
        from . import pki

        kek = kek if kek is not None else pki.load().kek
        return cls(card_row.serial, decrypt_key(card_row.encrypted_key, card_row.serial, kek))

    def sealed_key(self, kek: bytes) -> bytes:
        """The private key encrypted for storage in the card's row (never in clear)."""
        return encrypt_key(self.__key, self.serial, kek)

    def public_key(self) -> ec.EllipticCurvePublicKey:
        return self.__key.public_key()

    def public_key_der(self) -> bytes:
        return self.public_key().public_bytes(serialization.Encoding.DER,
                                              serialization.PublicFormat.SubjectPublicKeyInfo)

    def certificate_signing_request(self, uid: str) -> x509.CertificateSigningRequest:
        # The card holds only the user id (rule DS16).
        subject = x509.Name([x509.NameAttribute(NameOID.SERIAL_NUMBER, uid), x509.NameAttribute(NameOID.COMMON_NAME, uid)])
        return x509.CertificateSigningRequestBuilder().subject_name(subject).sign(self.__key, hashes.SHA256())

    def verify_pin(self, pin: str) -> None:
        """Checked against the card's PIN hash; wrong PINs count and lock the card (services)."""
        from . import services

        services.verify_pin(self.serial, pin)
        self.__pin_verified = True

    def sign(self, data: bytes) -> bytes:
        if not self.__pin_verified:
            raise Forbidden("enter the card's PIN before it signs")
        return self.__key.sign(data, SIGNATURE_ALGORITHM)
