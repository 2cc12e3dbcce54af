"""Signed checkpoints of the audit ledger (rule PP9): RFC 9162-style signed tree heads.

A checkpoint states "the ledger had `tree_size` entries and Merkle root `root_hash` at `made_at`",
signed with the deployment's Ed25519 key. An outside auditor keeps the exported JSON (with the
public key): any later checkpoint must extend it (consistency proof) and any entry can be shown to
be in it (inclusion proof), so the ledger cannot be rewritten behind the auditor's back.

The signed message is UTF-8 text, four lines each ending in a newline (docs/audit-ledger.md):

    careaccess-checkpoint-v1
    <tree size, decimal>
    <root hash, 64 lowercase hex digits>
    <made at, UTC, YYYY-MM-DDTHH:MM:SS.ffffffZ>

The key lives at `settings.CAREACCESS_LEDGER_KEY` (PKCS#8 PEM, mode 0600, under var/keys/, never
in the repository); it is created on first use. `key_id` = hex SHA-256 of the raw 32-byte public key.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import os
import tempfile
import threading
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from django.conf import settings
from django.db import connection, transaction

from careaccess.core import clock
from careaccess.core.errors import NotFound

from . import merkle
from .ledger import format_time
from .models import Checkpoint, Head

CHECKPOINT_FORMAT = "careaccess-checkpoint-v1"

_key_lock = threading.Lock()
_key_cache: dict[str, Ed25519PrivateKey] = {}


# --- the signed message (shared with the offline verifier) -------------------------------------


def checkpoint_message(tree_size: int, root_hex: str, made_at: str) -> bytes:
    """The exact bytes signed for a checkpoint."""
    return f"{CHECKPOINT_FORMAT}\n{int(tree_size)}\n{root_hex}\n{made_at}\n".encode("ascii")


def key_id_of(public_key: Ed25519PublicKey) -> str:
    raw = public_key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return hashlib.sha256(raw).hexdigest()


def public_pem_of(public_key: Ed25519PublicKey) -> str:
    return public_key.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    ).decode("ascii")


# --- the signing key ---------------------------------------------------------------------------


def key_path() -> Path:
    return Path(settings.CAREACCESS_LEDGER_KEY)


def signing_key() -> Ed25519PrivateKey:
    """The ledger's private key, created (mode 0600) the first time it is needed."""
    path = key_path()
    cache_key = str(path)
    with _key_lock:
        key = _key_cache.get(cache_key)
        if key is None:
            key = _load_or_create(path)
            _key_cache[cache_key] = key
        return key


def _load_or_create(path: Path) -> Ed25519PrivateKey:
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        key = Ed25519PrivateKey.generate()
        pem = key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
        # Write a private temp file, then link it into place: another process creating the key at
        # the same moment either wins (we read its key) or loses; nobody reads a half-written file.
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".ledger-key-")
        try:
            os.fchmod(fd, 0o600)
            with os.fdopen(fd, "wb") as handle:
                handle.write(pem)
                handle.flush()
                os.fsync(handle.fileno())
            try:
                os.link(tmp, path)
            except FileExistsError:
                pass
        finally:
            os.unlink(tmp)
    data = path.read_bytes()
    key = serialization.load_pem_private_key(data, password=None)
    if not isinstance(key, Ed25519PrivateKey):
        raise RuntimeError(f"{path} does not hold an Ed25519 private key")
    return key


def public_key() -> Ed25519PublicKey:
    return signing_key().public_key()


def public_key_pem() -> str:
    return public_pem_of(public_key())


def key_id() -> str:
    return key_id_of(public_key())


def sign(tree_size: int, root_hex: str, made_at: str) -> str:
    return base64.b64encode(signing_key().sign(checkpoint_message(tree_size, root_hex, made_at))).decode("ascii")


def signature_valid(checkpoint: Checkpoint, key: Ed25519PublicKey | None = None) -> bool:
    from cryptography.exceptions import InvalidSignature

    key = key or public_key()
    try:
        signature = base64.b64decode(checkpoint.signature, validate=True)
        key.verify(signature, checkpoint_message(checkpoint.tree_size, checkpoint.root_hash, made_at_text(checkpoint)))
    except (InvalidSignature, ValueError):
        return False
    return True


def made_at_text(checkpoint: Checkpoint) -> str:
    return format_time(checkpoint.made_at)


# --- making checkpoints ------------------------------------------------------------------------


def head_root(head: Head) -> bytes:
    hashes = [bytes.fromhex(h) for h in head.frontier.split(",") if h]
    return merkle.Frontier.from_list(head.size, hashes).root()


def make_checkpoint() -> Checkpoint:
    """Sign the ledger's current size and root, store the checkpoint and return it."""
    with transaction.atomic():
        head = _head(lock=True)
        return _make(head)


def _head(lock: bool) -> Head:
    # Head.objects places pending entries first (sequencing.py): a checkpoint covers every entry
    # committed before it.
    if lock and connection.vendor == "postgresql":
        return Head.objects.select_for_update().get(id=1)
    return Head.objects.get(id=1)


def _make(head: Head) -> Checkpoint:
    made_at = clock.now()
    # Stored and signed at microsecond precision, the spelling format_time gives.
    root_hex = head_root(head).hex()
    made_text = format_time(made_at)
    checkpoint = Checkpoint(
        tree_size=head.size,
        root_hash=root_hex,
        made_at=made_at,
        key_id=key_id(),
        signature=sign(head.size, root_hex, made_text),
    )
    checkpoint.save(force_insert=True)
    return checkpoint


def latest_checkpoint() -> Checkpoint | None:
    return Checkpoint.objects.order_by("-tree_size", "-id").first()


def checkpoint_if_due(now: dt.datetime | None = None) -> Checkpoint | None:
    """For the worker: make a checkpoint when the ledger grew since the last one and that one is
    at least CAREACCESS_CHECKPOINT_EVERY_SECONDS old. Returns the new checkpoint, or None."""
    every = dt.timedelta(seconds=settings.CAREACCESS_CHECKPOINT_EVERY_SECONDS)
    now = now or clock.now()

    def due(head: Head, last: Checkpoint | None) -> bool:
        if last is None:
            return head.size > 0
        return head.size > last.tree_size and now - last.made_at >= every

    # A cheap unlocked look first: most calls find nothing to do and take no lock.
    if not due(Head.objects.get(id=1), Checkpoint.objects.order_by("-id").first()):
        return None
    with transaction.atomic():
        head = _head(lock=True)  # serialises workers (and sequencing, briefly) on PostgreSQL
        if not due(head, Checkpoint.objects.order_by("-id").first()):
            return None
        return _make(head)


def get_checkpoint(checkpoint_id: int) -> Checkpoint:
    try:
        return Checkpoint.objects.get(id=checkpoint_id)
    except (Checkpoint.DoesNotExist, ValueError, TypeError):
        raise NotFound(
            f"there is no checkpoint {checkpoint_id}; `careaccess audit checkpoint` makes one and prints its id"
        ) from None


def checkpoint_at_size(tree_size: int) -> Checkpoint:
    checkpoint = Checkpoint.objects.filter(tree_size=tree_size).order_by("-id").first()
    if checkpoint is None:
        raise NotFound(f"no checkpoint was made at tree size {tree_size}")
    return checkpoint


# --- export: what an outside auditor keeps -----------------------------------------------------


def export(checkpoint: Checkpoint) -> dict:
    """The checkpoint as JSON-ready data, with the public key that signed it."""
    return {
        "format": CHECKPOINT_FORMAT,
        "id": checkpoint.id,
        "tree_size": checkpoint.tree_size,
        "root_hash": checkpoint.root_hash,
        "made_at": made_at_text(checkpoint),
        "key_id": checkpoint.key_id,
        "signature": checkpoint.signature,
        "public_key": public_key_pem(),
    }
