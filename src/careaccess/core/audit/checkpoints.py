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

Keys are rotated (`rotate_key`, `careaccess audit rotate-key`): the ledger's keys are a list
(`CheckpointKey`, and `ledger-keys.json` beside the key file) in which each key signs the
checkpoints made from its `valid_from` until the next one's, and each new key is endorsed by the
key before it. A retired key's private half is gone (it signs nothing more); its public half stays
listed, so the checkpoints it signed still verify.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import json
import os
import tempfile
import threading
from functools import lru_cache
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from django.conf import settings
from django.db import connection, transaction

from careaccess.core import clock
from careaccess.core.context import Actor
from careaccess.core.errors import CareAccessError, NotFound

from . import ledger, merkle
from .ledger import format_time
from .models import Checkpoint, CheckpointKey, Head
from .offline import KEYS_FORMAT, HeldKey, key_message, load_keys
from .sequencing import sequence

CHECKPOINT_FORMAT = "careaccess-checkpoint-v1"

_key_lock = threading.Lock()
# Parsed private keys by path, with the file's identity (device, inode, modification time): a
# rotation replaces the file, so every process reads the new key on its next use.
_key_cache: dict[str, tuple[tuple[int, int, int], Ed25519PrivateKey]] = {}


class LedgerKeyError(CareAccessError):
    """The key file on this machine is not the ledger's current checkpoint key."""

    status = 500
    title = "Audit ledger key"


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
    """The private key in the key file, created (mode 0600) the first time it is needed."""
    path = key_path()
    with _key_lock:
        if not path.exists():
            _create(path)
        stat = path.stat()
        identity = (stat.st_dev, stat.st_ino, stat.st_mtime_ns)
        cached = _key_cache.get(str(path))
        if cached is None or cached[0] != identity:
            cached = (identity, _read_private(path))
            _key_cache[str(path)] = cached
        return cached[1]


def _private_temp(directory: Path, key: Ed25519PrivateKey) -> str:
    """A private (0600) temp file holding the key, written and flushed to disk: then linked or
    moved into place, so nobody ever reads a half-written key."""
    directory.mkdir(parents=True, exist_ok=True, mode=0o700)
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    fd, tmp = tempfile.mkstemp(dir=directory, prefix=".ledger-key-")
    os.fchmod(fd, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(pem)
        handle.flush()
        os.fsync(handle.fileno())
    return tmp


def _create(path: Path) -> None:
    # Another process creating the key at the same moment either wins (we read its key) or loses.
    tmp = _private_temp(path.parent, Ed25519PrivateKey.generate())
    try:
        os.link(tmp, path)
    except FileExistsError:
        pass
    finally:
        os.unlink(tmp)


def _read_private(path: Path) -> Ed25519PrivateKey:
    key = serialization.load_pem_private_key(path.read_bytes(), password=None)
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


def made_at_text(checkpoint: Checkpoint) -> str:
    return format_time(checkpoint.made_at)


# --- the ledger's keys -------------------------------------------------------------------------


def key_list_path() -> Path:
    """The key list kept on this machine beside the key file: what `verify` trusts."""
    return key_path().with_name("ledger-keys.json")


def _staged_path(key_id: str) -> Path:
    """Where a rotation puts its new private key until the rotation is committed."""
    return key_path().with_name(f"{key_path().name}.{key_id}.next")


def _key_list(rows: list[tuple[str, str, str | None, str]]) -> dict:
    """The published list from (key id, PEM, valid from, endorsement) in the order the keys signed."""
    keys = []
    for i, (kid, pem, valid_from, endorsement) in enumerate(rows):
        keys.append({
            "key_id": kid,
            "public_key": pem,
            "valid_from": valid_from,
            "valid_until": rows[i + 1][2] if i + 1 < len(rows) else None,
            "endorsed_by": rows[i - 1][0] if i else None,
            "endorsement": endorsement or None,
        })
    return {"format": KEYS_FORMAT, "keys": keys}


def _key_rows() -> list[tuple[str, str, str | None, str]]:
    rows = [(kid, pem, None if valid_from is None else format_time(valid_from), endorsement)
            for kid, pem, valid_from, endorsement in CheckpointKey.objects.order_by("id").values_list(
                "key_id", "public_key", "valid_from", "endorsement")]
    if not rows and key_path().exists():
        rows = [(key_id(), public_key_pem(), None, "")]  # before migration 0005's table holds the first key
    return rows


def published_keys() -> dict:
    """The ledger's checkpoint keys with when each signed checkpoints, and the endorsements
    (`careaccess audit public-key`, `GET /api/v1/audit/keys`). Before its first checkpoint after
    migration 0005 stores it, the key file's key alone. Writes nothing."""
    return _key_list(_key_rows())


def listed_keys() -> dict[str, HeldKey]:
    """The published keys by key id, parsed and their endorsements checked: once per process for a
    given list (`offline.load_keys` refuses a list whose chain does not hold)."""
    return _parsed(tuple(_key_rows()))


@lru_cache(maxsize=4)
def _parsed(rows: tuple) -> dict[str, HeldKey]:
    return load_keys(_key_list(list(rows)), "the ledger's key list")


def local_keys() -> dict | None:
    """The key list kept on this machine: the one the last rotation wrote, else (never rotated)
    the key file's key alone; None when neither file is here."""
    if key_list_path().exists():
        return json.loads(key_list_path().read_text(encoding="utf-8"))
    if key_path().exists():
        return _key_list([(key_id(), public_key_pem(), None, "")])
    return None


def _write_key_list() -> None:
    path = key_list_path()
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".ledger-keys-")
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        json.dump(published_keys(), handle, indent=2)
        handle.write("\n")
        handle.flush()
        os.fsync(handle.fileno())
    os.chmod(tmp, 0o644)  # public keys
    os.replace(tmp, path)


def _current_signing_key() -> tuple[Ed25519PrivateKey, str]:
    """For a write transaction: the key file's key, which must be the ledger's current key. The
    first key is stored the first time it signs; a rotation committed by a process that stopped
    before moving its new key into place is finished here."""
    key = signing_key()
    kid = key_id_of(key.public_key())
    current = CheckpointKey.objects.order_by("-id").first()
    if current is None:
        CheckpointKey.objects.create(key_id=kid, public_key=public_pem_of(key.public_key()), valid_from=None)
        return key, kid
    if current.key_id != kid and _finish_rotation(current.key_id):
        key, kid = signing_key(), current.key_id
    if current.key_id != kid:
        raise LedgerKeyError(
            f"the key in {key_path()} is {kid[:16]}…, but the ledger's current checkpoint key is "
            f"{current.key_id[:16]}… (`careaccess audit public-key`): put that key's file back; a checkpoint "
            "signed by another key would not verify"
        )
    return key, kid


def _finish_rotation(new_id: str) -> bool:
    """Move a committed rotation's new key into the key file (and write the key list beside it);
    True when the key file holds `new_id`. The old private key is overwritten: a retired key signs
    nothing more."""
    staged = _staged_path(new_id)
    try:
        ready = key_id_of(_read_private(staged).public_key()) == new_id
    except FileNotFoundError:
        ready = False  # none staged, or another process finished it first
    if ready:
        _write_key_list()
        try:
            os.replace(staged, key_path())
        except FileNotFoundError:
            pass  # another process finished it first
    return key_id_of(signing_key().public_key()) == new_id


def rotate_key(actor: Actor) -> tuple[str, str, Checkpoint]:
    """A new key signs the ledger's checkpoints from now on (`careaccess audit rotate-key`).

    In one transaction: the new public key joins the key list, endorsed by the current key; the
    rotation is recorded in the ledger (`audit.key_rotated`); and the new key signs a checkpoint
    that covers that entry. Once that transaction commits, the new private key replaces the old one
    in the key file and the key list is written beside it (until then the new key waits in a file
    of its own; rolled back, it is deleted). Returns (retired key id, new key id, the checkpoint)."""
    with transaction.atomic():
        _current_signing_key()  # finishes an interrupted rotation first
    new = Ed25519PrivateKey.generate()
    new_id = key_id_of(new.public_key())
    staged = _staged_path(new_id)
    os.replace(_private_temp(staged.parent, new), staged)  # not the key file until committed
    committed = False

    def finish() -> None:
        nonlocal committed
        committed = True  # from here the staged key is the ledger's current one: never delete it
        _finish_rotation(new_id)

    try:
        sequence()
        with transaction.atomic():
            _head(lock=True)  # one rotation or checkpoint at a time
            old, old_id = _current_signing_key()
            now = clock.now()
            valid_from = format_time(now)
            endorsement = base64.b64encode(old.sign(key_message(new_id, valid_from, old_id))).decode("ascii")
            CheckpointKey.objects.create(key_id=new_id, public_key=public_pem_of(new.public_key()), valid_from=now,
                                         endorsement=endorsement)
            ledger.record("audit.key_rotated", actor=actor, target_type="audit_checkpoint_key", target_id=new_id,
                          before={"key_id": old_id},
                          after={"key_id": new_id, "valid_from": valid_from, "endorsement": endorsement})
            sequence()  # PostgreSQL: places the rotation's entry, so the new key's first checkpoint covers it
            checkpoint = _make(_head(lock=True), (new, new_id))
            # robust: a key file that cannot be written now is moved by the next checkpoint
            # (_current_signing_key); the rotation itself has committed.
            transaction.on_commit(finish, robust=True)
    except BaseException:
        if not committed:
            staged.unlink(missing_ok=True)
        raise
    return old_id, new_id, checkpoint


# --- making checkpoints ------------------------------------------------------------------------


def head_root(head: Head) -> bytes:
    hashes = [bytes.fromhex(h) for h in head.frontier.split(",") if h]
    return merkle.Frontier.from_list(head.size, hashes).root()


def make_checkpoint() -> Checkpoint:
    """Sign the ledger's current size and root, store the checkpoint and return it."""
    sequence()  # a checkpoint covers every entry committed before it (sequencing.py)
    with transaction.atomic():
        head = _head(lock=True)
        return _make(head)


def _head(lock: bool) -> Head:
    if lock and connection.vendor == "postgresql":
        return Head.objects.select_for_update().get(id=1)
    return Head.objects.get(id=1)


def _make(head: Head, key: tuple[Ed25519PrivateKey, str] | None = None) -> Checkpoint:
    private, kid = key or _current_signing_key()
    made_at = clock.now()
    # Stored and signed at microsecond precision, the spelling format_time gives.
    root_hex = head_root(head).hex()
    signature = private.sign(checkpoint_message(head.size, root_hex, format_time(made_at)))
    checkpoint = Checkpoint(
        tree_size=head.size,
        root_hash=root_hex,
        made_at=made_at,
        key_id=kid,
        signature=base64.b64encode(signature).decode("ascii"),
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

    sequence()  # one index probe when nothing is pending
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


def _public_pem(kid: str) -> str | None:
    stored = CheckpointKey.objects.filter(key_id=kid).values_list("public_key", flat=True).first()
    if stored is None and key_path().exists() and key_id() == kid:
        return public_key_pem()  # the first key, before it is stored
    return stored


def export(checkpoint: Checkpoint, keys: dict[str, HeldKey] | None = None) -> dict:
    """The checkpoint as JSON-ready data, with the public key that signed it (from `keys` when given)."""
    held = (keys or {}).get(checkpoint.key_id)
    return {
        "format": CHECKPOINT_FORMAT,
        "id": checkpoint.id,
        "tree_size": checkpoint.tree_size,
        "root_hash": checkpoint.root_hash,
        "made_at": made_at_text(checkpoint),
        "key_id": checkpoint.key_id,
        "signature": checkpoint.signature,
        "public_key": held.pem if held else _public_pem(checkpoint.key_id),
    }
