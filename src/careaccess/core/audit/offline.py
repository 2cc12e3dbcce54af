"""Offline checks an outside auditor runs on exported proofs: no database, no settings.

`careaccess audit check-proof FILE` and `careaccess audit check-consistency FILE --trusted OLD`
call these. Every check is against what the auditor already holds (a checkpoint JSON with the
public key, or a public key PEM), never against what the proof file claims about itself:
a proof signed by another key, a forged signature, a root that does not match, or a checkpoint
older than the one held are all refused with `VerificationFailed`; a file that is not a proof
at all is `MalformedInput`.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
from dataclasses import dataclass

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from . import merkle

CHECKPOINT_FORMAT = "careaccess-checkpoint-v1"
INCLUSION_FORMAT = "careaccess-inclusion-proof-v1"
CONSISTENCY_FORMAT = "careaccess-consistency-proof-v1"
LEAF_FORMAT = "careaccess-audit-v1"


class VerificationFailed(Exception):
    """The proof does not prove what it claims (exit code 1)."""


class MalformedInput(Exception):
    """The file is not a well-formed checkpoint or proof (exit code 2)."""


@dataclass(frozen=True)
class CheckedCheckpoint:
    tree_size: int
    root: bytes
    made_at: str
    key_id: str
    signature: bytes
    public_key_pem: str | None
    raw: dict


# --- parsing ---------------------------------------------------------------------------------


def load_json(text: str | bytes, what: str) -> dict:
    try:
        doc = json.loads(text)
    except (ValueError, UnicodeDecodeError) as exc:
        raise MalformedInput(f"{what} is not JSON: {exc}") from None
    if not isinstance(doc, dict):
        raise MalformedInput(f"{what} must be a JSON object")
    return doc


def _hex32(value, what: str) -> bytes:
    if not isinstance(value, str) or len(value) != 64:
        raise MalformedInput(f"{what} must be 64 hex digits")
    try:
        return bytes.fromhex(value)
    except ValueError:
        raise MalformedInput(f"{what} must be 64 hex digits") from None


def _size(value, what: str) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise MalformedInput(f"{what} must be a non-negative integer")
    return value


def _b64(value, what: str) -> bytes:
    if not isinstance(value, str):
        raise MalformedInput(f"{what} must be base64 text")
    try:
        return base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        raise MalformedInput(f"{what} is not valid base64") from None


def parse_checkpoint(doc, what: str = "checkpoint") -> CheckedCheckpoint:
    if not isinstance(doc, dict):
        raise MalformedInput(f"{what} must be a JSON object")
    if doc.get("format") != CHECKPOINT_FORMAT:
        raise MalformedInput(f"{what} is not a {CHECKPOINT_FORMAT} checkpoint (format is {doc.get('format')!r})")
    made_at = doc.get("made_at")
    if not isinstance(made_at, str) or "\n" in made_at or not made_at:
        raise MalformedInput(f"{what}.made_at must be a one-line time")
    key_id = doc.get("key_id")
    if not isinstance(key_id, str) or len(key_id) != 64:
        raise MalformedInput(f"{what}.key_id must be 64 hex digits")
    pem = doc.get("public_key")
    if pem is not None and not isinstance(pem, str):
        raise MalformedInput(f"{what}.public_key must be PEM text")
    return CheckedCheckpoint(
        tree_size=_size(doc.get("tree_size"), f"{what}.tree_size"),
        root=_hex32(doc.get("root_hash"), f"{what}.root_hash"),
        made_at=made_at,
        key_id=key_id,
        signature=_b64(doc.get("signature"), f"{what}.signature"),
        public_key_pem=pem,
        raw=doc,
    )


def load_public_key(pem: str, what: str = "public key") -> Ed25519PublicKey:
    try:
        key = serialization.load_pem_public_key(pem.encode("ascii") if isinstance(pem, str) else pem)
    except (ValueError, TypeError, UnicodeEncodeError) as exc:
        raise MalformedInput(f"{what} is not a PEM public key: {exc}") from None
    if not isinstance(key, Ed25519PublicKey):
        raise MalformedInput(f"{what} is not an Ed25519 public key")
    return key


def key_id_of(key: Ed25519PublicKey) -> str:
    return hashlib.sha256(key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)).hexdigest()


def checkpoint_message(cp: CheckedCheckpoint) -> bytes:
    return f"{CHECKPOINT_FORMAT}\n{cp.tree_size}\n{cp.root.hex()}\n{cp.made_at}\n".encode("utf-8")


# --- checks ----------------------------------------------------------------------------------


def check_signature(cp: CheckedCheckpoint, pinned: Ed25519PublicKey, what: str = "checkpoint") -> None:
    """The checkpoint must be signed by the pinned key (the one the auditor holds)."""
    pinned_id = key_id_of(pinned)
    if cp.public_key_pem is not None:
        embedded = load_public_key(cp.public_key_pem, f"{what}.public_key")
        if key_id_of(embedded) != pinned_id:
            raise VerificationFailed(
                f"{what} is signed by a foreign key {key_id_of(embedded)[:16]}…, not the ledger key you hold "
                f"({pinned_id[:16]}…): refuse it"
            )
    if cp.key_id != pinned_id:
        raise VerificationFailed(
            f"{what} names key {cp.key_id[:16]}…, not the ledger key you hold ({pinned_id[:16]}…): refuse it"
        )
    try:
        pinned.verify(cp.signature, checkpoint_message(cp))
    except InvalidSignature:
        raise VerificationFailed(
            f"{what} signature does not verify with the ledger key {pinned_id[:16]}…: the checkpoint "
            f"(size {cp.tree_size}, root {cp.root.hex()[:16]}…) is forged or altered"
        ) from None


def trust_anchor(trusted: dict | None, public_key_pem: str | None) -> tuple[Ed25519PublicKey | None, CheckedCheckpoint | None]:
    """The key (and checkpoint) the auditor holds. A held checkpoint must verify under its key."""
    held = None
    key = None
    if trusted is not None:
        held = parse_checkpoint(trusted, "trusted checkpoint")
        if held.public_key_pem is None and public_key_pem is None:
            raise MalformedInput("the trusted checkpoint has no public_key; pass --public-key too")
        key = load_public_key(public_key_pem or held.public_key_pem, "trusted public key")
        check_signature(held, key, "trusted checkpoint")
    elif public_key_pem is not None:
        key = load_public_key(public_key_pem, "trusted public key")
    return key, held


def _not_older(cp: CheckedCheckpoint, held: CheckedCheckpoint | None, what: str) -> None:
    if held is None:
        return
    if cp.tree_size < held.tree_size:
        raise VerificationFailed(
            f"{what} (tree size {cp.tree_size}) is older than the checkpoint you hold (tree size "
            f"{held.tree_size}): ask for a proof against your checkpoint or a newer one"
        )
    if cp.tree_size == held.tree_size and cp.root != held.root:
        raise VerificationFailed(
            f"{what} has root {cp.root.hex()} for tree size {cp.tree_size} but the checkpoint you hold has "
            f"{held.root.hex()}: the ledger was rewritten (a fork)"
        )


def check_inclusion(doc: dict, *, trusted: dict | None = None, public_key_pem: str | None = None) -> dict:
    """Verify an `audit prove` document. Returns a summary; raises VerificationFailed/MalformedInput.

    Without `trusted` or `public_key_pem` the key embedded in the proof is used, which proves only
    self-consistency: `pinned` is False in the summary and the caller must say so.
    """
    if not isinstance(doc, dict) or doc.get("format") != INCLUSION_FORMAT:
        raise MalformedInput(f"not a {INCLUSION_FORMAT} document")
    key, held = trust_anchor(trusted, public_key_pem)
    cp = parse_checkpoint(doc.get("checkpoint"), "proof checkpoint")
    pinned = key is not None
    if key is None:
        if cp.public_key_pem is None:
            raise MalformedInput("the proof's checkpoint has no public_key and no trusted key was given")
        key = load_public_key(cp.public_key_pem, "proof checkpoint public_key")
    index = _size(doc.get("leaf_index"), "leaf_index")
    size = _size(doc.get("tree_size"), "tree_size")
    root = _hex32(doc.get("root_hash"), "root_hash")
    leaf = _hex32(doc.get("leaf_hash"), "leaf_hash")
    data = _b64(doc.get("leaf_bytes"), "leaf_bytes")
    path = doc.get("audit_path")
    if not isinstance(path, list):
        raise MalformedInput("audit_path must be a list of hex hashes")
    proof = [_hex32(p, f"audit_path[{i}]") for i, p in enumerate(path)]

    check_signature(cp, key, "proof checkpoint")
    _not_older(cp, held, "the proof's checkpoint")
    if size != cp.tree_size or root != cp.root:
        raise VerificationFailed("the proof's tree size/root are not the signed checkpoint's")
    if merkle.leaf_hash(data) != leaf:
        raise VerificationFailed("leaf_hash is not SHA-256(0x00 || leaf_bytes): the entry was altered")
    try:
        fields = json.loads(data.decode("utf-8"))
    except (ValueError, UnicodeDecodeError):
        raise VerificationFailed("leaf_bytes is not the UTF-8 JSON array of an entry") from None
    if not isinstance(fields, list) or not fields or fields[0] != LEAF_FORMAT or len(fields) < 2 or fields[1] != index:
        raise VerificationFailed(f"leaf_bytes is not a {LEAF_FORMAT} entry with index {index}")
    entry = doc.get("entry")
    if entry is not None:
        from .ledger import LEAF_FIELDS  # plain data, no database

        if not isinstance(entry, dict) or [LEAF_FORMAT, *(entry.get(f) for f in LEAF_FIELDS)] != fields:
            raise VerificationFailed("the entry fields shown do not match leaf_bytes")
    if not merkle.verify_inclusion(leaf, index, size, proof, root):
        raise VerificationFailed(
            f"the audit path does not lead from entry {index} to the signed root of tree size {size}: "
            "the entry is not in the ledger the checkpoint commits to"
        )
    return {
        "ok": True,
        "leaf_index": index,
        "tree_size": size,
        "root_hash": root.hex(),
        "key_id": key_id_of(key),
        "pinned": pinned,
    }


def check_consistency(doc: dict, *, trusted: dict, public_key_pem: str | None = None) -> dict:
    """Verify an `audit consistency` document against the checkpoint the auditor holds.

    On success the summary's `new_checkpoint` is what the auditor should hold from now on.
    """
    if not isinstance(doc, dict) or doc.get("format") != CONSISTENCY_FORMAT:
        raise MalformedInput(f"not a {CONSISTENCY_FORMAT} document")
    key, held = trust_anchor(trusted, public_key_pem)
    if held is None:
        raise MalformedInput("a trusted checkpoint is needed")
    old = parse_checkpoint(doc.get("old"), "proof's old checkpoint")
    new = parse_checkpoint(doc.get("new"), "proof's new checkpoint")
    path = doc.get("proof")
    if not isinstance(path, list):
        raise MalformedInput("proof must be a list of hex hashes")
    proof = [_hex32(p, f"proof[{i}]") for i, p in enumerate(path)]

    check_signature(new, key, "the new checkpoint")
    check_signature(old, key, "the old checkpoint")
    _not_older(new, held, "the new checkpoint")
    if old.tree_size != held.tree_size:
        raise MalformedInput(
            f"this proof starts at tree size {old.tree_size} but you hold tree size {held.tree_size}: "
            "ask for `careaccess audit consistency <your checkpoint id> <new>`"
        )
    if old.root != held.root:
        raise VerificationFailed(
            f"the proof's old checkpoint has root {old.root.hex()} for tree size {old.tree_size}, but the one you "
            f"hold has {held.root.hex()}: the ledger was rewritten (a fork)"
        )
    if not consistent(held.tree_size, new.tree_size, held.root, new.root, proof):
        raise VerificationFailed(
            f"the consistency proof does not show tree size {held.tree_size} (the one you hold) is a prefix of "
            f"tree size {new.tree_size}: entries were edited, removed or reordered"
        )
    return {
        "ok": True,
        "old_size": held.tree_size,
        "new_size": new.tree_size,
        "old_root": held.root.hex(),
        "new_root": new.root.hex(),
        "key_id": key_id_of(key),
        "new_checkpoint": new.raw,
    }


def consistent(old_size: int, new_size: int, old_root: bytes, new_root: bytes, proof: list[bytes]) -> bool:
    """RFC 9162 consistency, extended to an empty old tree (a prefix of everything, empty proof)."""
    if old_size == 0:
        return not proof and old_root == merkle.EMPTY_ROOT
    return merkle.verify_consistency(old_size, new_size, old_root, new_root, proof)
