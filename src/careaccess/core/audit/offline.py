"""Offline checks an outside auditor runs on exported proofs: no database, no settings.

`careaccess audit check-proof FILE`, `check-consistency FILE --trusted OLD` and `check-keys FILE
--trusted HELD` call these. Every check is against what the auditor already holds (a checkpoint
JSON with the public key, a public key PEM, or the ledger's key list), never against what the
proof file claims about itself: a proof signed by a key the auditor does not hold, a forged
signature, a checkpoint made when its key did not sign checkpoints, a root that does not match,
or a checkpoint older than the one held are all refused with `VerificationFailed`; a file that is
not a proof at all is `MalformedInput`.

The ledger's keys (rotated by `careaccess audit rotate-key`) form a list in which each key signs
the checkpoints made from its `valid_from` until the next key's, and each key after the first is
endorsed by the key before it (`key_message`); `load_keys` checks that chain.
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
KEYS_FORMAT = "careaccess-checkpoint-keys-v1"
KEY_FORMAT = "careaccess-checkpoint-key-v1"
INCLUSION_FORMAT = "careaccess-inclusion-proof-v1"
CONSISTENCY_FORMAT = "careaccess-consistency-proof-v1"
LEAF_FORMAT = "careaccess-audit-v1"


class VerificationFailed(Exception):
    """The proof does not prove what it claims (exit code 1)."""


class MalformedInput(Exception):
    """The file is not a well-formed checkpoint or proof (exit code 2)."""


@dataclass(frozen=True)
class HeldKey:
    """A ledger key the auditor holds, and when it signed checkpoints (None: no bound)."""

    key_id: str
    public_key: Ed25519PublicKey
    pem: str
    valid_from: str | None = None
    valid_until: str | None = None

    def signed_at(self, made_at: str) -> bool:
        # The times are all spelled YYYY-MM-DDTHH:MM:SS.ffffffZ, so they compare as text.
        return (self.valid_from is None or self.valid_from <= made_at) and (
            self.valid_until is None or made_at < self.valid_until
        )

    def validity(self) -> str:
        return f"from {self.valid_from or 'the start'} until {self.valid_until or 'now'}"


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


def key_message(key_id: str, valid_from: str, endorsed_by: str) -> bytes:
    """What the key before a new key signs to endorse it (docs/audit-ledger.md)."""
    return f"{KEY_FORMAT}\n{key_id}\n{valid_from}\n{endorsed_by}\n".encode("utf-8")


def _time_or_none(value, what: str) -> str | None:
    if value is not None and (not isinstance(value, str) or "\n" in value or not value):
        raise MalformedInput(f"{what} must be a one-line time or null")
    return value


def load_keys(value: str | dict, what: str = "public key") -> dict[str, HeldKey]:
    """The keys an auditor holds, by key id: one PEM public key (no time bounds), or a key list as
    `careaccess audit public-key` prints it, each key valid until the next one's `valid_from` and
    endorsed by the key before it. A list whose chain does not hold is refused."""
    if isinstance(value, str) and value.lstrip().startswith("-----BEGIN"):
        key = load_public_key(value, what)
        return {key_id_of(key): HeldKey(key_id_of(key), key, value)}
    doc = value if isinstance(value, dict) else load_json(value, what)
    if doc.get("format") != KEYS_FORMAT:
        raise MalformedInput(f"{what} is neither a PEM public key nor a {KEYS_FORMAT} key list")
    entries = doc.get("keys")
    if not isinstance(entries, list) or not entries or not all(isinstance(e, dict) for e in entries):
        raise MalformedInput(f"{what} must list its keys as JSON objects")
    parsed = []
    for i, entry in enumerate(entries):
        where = f"{what}, key {i}"
        pem = entry.get("public_key")
        if not isinstance(pem, str):
            raise MalformedInput(f"{where}: public_key must be PEM text")
        key = load_public_key(pem, where)
        if entry.get("key_id") != key_id_of(key):
            raise VerificationFailed(
                f"{where} is listed as {str(entry.get('key_id'))[:16]}… but its public key's id is "
                f"{key_id_of(key)[:16]}…: the list was altered"
            )
        parsed.append((entry, key, _time_or_none(entry.get("valid_from"), f"{where}: valid_from"),
                       _time_or_none(entry.get("valid_until"), f"{where}: valid_until")))
    held: dict[str, HeldKey] = {}
    for i, (entry, key, valid_from, valid_until) in enumerate(parsed):
        following = parsed[i + 1][2] if i + 1 < len(parsed) else None
        if i + 1 < len(parsed) and following is None:
            raise MalformedInput(f"{what}, key {i + 1}: every key after the first needs its valid_from")
        if valid_until != following:
            raise VerificationFailed(
                f"{what}, key {i} is listed as valid until {valid_until}, but the next key took over at "
                f"{following}: the list was altered"
            )
        if i:
            before = parsed[i - 1][1]
            try:
                before.verify(_b64(entry.get("endorsement"), f"{what}, key {i}: endorsement"),
                              key_message(key_id_of(key), valid_from, key_id_of(before)))
            except InvalidSignature:
                raise VerificationFailed(
                    f"{what}, key {i} ({key_id_of(key)[:16]}…) is not endorsed by the key before it "
                    f"({key_id_of(before)[:16]}…): the list was altered, or the key is not the ledger's"
                ) from None
        kid = key_id_of(key)
        if kid in held:
            raise MalformedInput(f"{what} lists key {kid[:16]}… twice")
        held[kid] = HeldKey(kid, key, entry["public_key"], valid_from, valid_until)
    return held


def _ids(keys: dict[str, HeldKey]) -> str:
    return ", ".join(f"{kid[:16]}…" for kid in keys)


# --- checks ----------------------------------------------------------------------------------


def check_signature(cp: CheckedCheckpoint, keys: dict[str, HeldKey], what: str = "checkpoint") -> None:
    """The checkpoint must be signed by a key the auditor holds, at a time that key signed checkpoints."""
    if cp.public_key_pem is not None:
        embedded = key_id_of(load_public_key(cp.public_key_pem, f"{what}.public_key"))
        if embedded not in keys:
            raise VerificationFailed(
                f"{what} is signed by a foreign key {embedded[:16]}…, not a ledger key you hold ({_ids(keys)}): "
                "refuse it"
            )
        if embedded != cp.key_id:
            raise VerificationFailed(f"{what} names key {cp.key_id[:16]}… but carries key {embedded[:16]}…: refuse it")
    held = keys.get(cp.key_id)
    if held is None:
        raise VerificationFailed(
            f"{what} names a foreign key {cp.key_id[:16]}…, not a ledger key you hold ({_ids(keys)}): refuse it "
            "(if the ledger's key was rotated, check its new key list with `careaccess audit check-keys`)"
        )
    if not held.signed_at(cp.made_at):
        raise VerificationFailed(
            f"{what} was made at {cp.made_at}, but key {held.key_id[:16]}… signed checkpoints only "
            f"{held.validity()}: refuse it"
        )
    try:
        held.public_key.verify(cp.signature, checkpoint_message(cp))
    except InvalidSignature:
        raise VerificationFailed(
            f"{what} signature does not verify with the ledger key {held.key_id[:16]}…: the checkpoint "
            f"(size {cp.tree_size}, root {cp.root.hex()[:16]}…) is forged or altered"
        ) from None


def trust_anchor(
    trusted: dict | None, public_key_pem: str | None
) -> tuple[dict[str, HeldKey] | None, CheckedCheckpoint | None]:
    """The keys (and checkpoint) the auditor holds: `public_key_pem` is one PEM key or a key list;
    without it, the held checkpoint's own key. A held checkpoint must verify under those keys."""
    held = None
    keys = None
    if trusted is not None:
        held = parse_checkpoint(trusted, "trusted checkpoint")
        if held.public_key_pem is None and public_key_pem is None:
            raise MalformedInput("the trusted checkpoint has no public_key; pass --public-key too")
        keys = load_keys(public_key_pem or held.public_key_pem, "trusted public key")
        check_signature(held, keys, "trusted checkpoint")
    elif public_key_pem is not None:
        keys = load_keys(public_key_pem, "trusted public key")
    return keys, held


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
    keys, held = trust_anchor(trusted, public_key_pem)
    cp = parse_checkpoint(doc.get("checkpoint"), "proof checkpoint")
    pinned = keys is not None
    if keys is None:
        if cp.public_key_pem is None:
            raise MalformedInput("the proof's checkpoint has no public_key and no trusted key was given")
        keys = load_keys(cp.public_key_pem, "proof checkpoint public_key")
    index = _size(doc.get("leaf_index"), "leaf_index")
    size = _size(doc.get("tree_size"), "tree_size")
    root = _hex32(doc.get("root_hash"), "root_hash")
    leaf = _hex32(doc.get("leaf_hash"), "leaf_hash")
    data = _b64(doc.get("leaf_bytes"), "leaf_bytes")
    path = doc.get("audit_path")
    if not isinstance(path, list):
        raise MalformedInput("audit_path must be a list of hex hashes")
    proof = [_hex32(p, f"audit_path[{i}]") for i, p in enumerate(path)]

    check_signature(cp, keys, "proof checkpoint")
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
        "key_id": cp.key_id,
        "pinned": pinned,
    }


def check_consistency(doc: dict, *, trusted: dict, public_key_pem: str | None = None) -> dict:
    """Verify an `audit consistency` document against the checkpoint the auditor holds.

    On success the summary's `new_checkpoint` is what the auditor should hold from now on.
    """
    if not isinstance(doc, dict) or doc.get("format") != CONSISTENCY_FORMAT:
        raise MalformedInput(f"not a {CONSISTENCY_FORMAT} document")
    keys, held = trust_anchor(trusted, public_key_pem)
    if held is None:
        raise MalformedInput("a trusted checkpoint is needed")
    old = parse_checkpoint(doc.get("old"), "proof's old checkpoint")
    new = parse_checkpoint(doc.get("new"), "proof's new checkpoint")
    path = doc.get("proof")
    if not isinstance(path, list):
        raise MalformedInput("proof must be a list of hex hashes")
    proof = [_hex32(p, f"proof[{i}]") for i, p in enumerate(path)]

    check_signature(new, keys, "the new checkpoint")
    check_signature(old, keys, "the old checkpoint")
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
        "key_id": new.key_id,
        "new_checkpoint": new.raw,
    }


def check_keys(doc: dict, *, trusted: str | dict) -> dict:
    """Verify a newer key list (`careaccess audit public-key`) against the keys the auditor holds (a
    PEM key or a key list): the keys held must appear in it, in order and unchanged but for the end
    of the last one's validity, and every key after them is endorsed by the one before. Returns a
    summary whose `keys` (the list from the first key held on) is what to hold from now on."""
    held = load_keys(trusted, "the keys you hold")
    new = load_keys(doc, "the key list")  # checks the chain of endorsements
    new_ids, held_ids = list(new), list(held)
    if held_ids[0] not in new:
        raise VerificationFailed(
            f"the key list does not contain the key you hold ({held_ids[0][:16]}…): it is not this ledger's, "
            "or its keys were replaced"
        )
    start = new_ids.index(held_ids[0])
    for offset, kid in enumerate(held_ids):
        at = start + offset
        if at >= len(new_ids) or new_ids[at] != kid:
            raise VerificationFailed(f"the key list drops or reorders key {kid[:16]}… that you hold")
        mine, theirs = held[kid], new[kid]
        ends_now = offset == len(held_ids) - 1 and mine.valid_until is None  # rotated since
        if (mine.valid_from is not None and theirs.valid_from != mine.valid_from) or (
            theirs.valid_until != mine.valid_until and not ends_now
        ):
            raise VerificationFailed(
                f"the key list changes when key {kid[:16]}… signed checkpoints ({theirs.validity()}, you hold "
                f"{mine.validity()}): the list was altered"
            )
    entries = doc["keys"][start:]
    return {"ok": True, "added": new_ids[start + len(held_ids):], "keys": {"format": KEYS_FORMAT, "keys": entries}}


def consistent(old_size: int, new_size: int, old_root: bytes, new_root: bytes, proof: list[bytes]) -> bool:
    """RFC 9162 consistency, extended to an empty old tree (a prefix of everything, empty proof)."""
    if old_size == 0:
        return not proof and old_root == merkle.EMPTY_ROOT
    return merkle.verify_consistency(old_size, new_size, old_root, new_root, proof)
