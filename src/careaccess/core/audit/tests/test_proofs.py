"""Inclusion and consistency proofs, checked by an INDEPENDENT verifier (rule PP9).

The verifier below is written from docs/audit-ledger.md with hashlib and cryptography only; it
does not import merkle.py or offline.py, so a bug shared by the prover and the project's own
verifier cannot hide here.
"""

from __future__ import annotations

import base64
import copy
import hashlib
import json

import pytest
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from django.db import connection
from django.test.utils import CaptureQueriesContext

from careaccess.core.audit import checkpoints, merkle, offline, proofs
from careaccess.core.audit.models import Checkpoint
from careaccess.core.errors import InvalidInput, NotFound

from .helpers import append, ensure, q, size, sql

pytestmark = pytest.mark.django_db


# --- the independent verifier (hashlib + cryptography only) -------------------------------


def ind_leaf(data: bytes) -> bytes:
    return hashlib.sha256(b"\x00" + data).digest()


def ind_node(left: bytes, right: bytes) -> bytes:
    return hashlib.sha256(b"\x01" + left + right).digest()


def ind_mth(leaves: list[bytes]) -> bytes:
    """RFC 9162 2.1.1 MTH, recursively, from leaf hashes."""
    if not leaves:
        return hashlib.sha256(b"").digest()
    if len(leaves) == 1:
        return leaves[0]
    k = 1
    while k * 2 < len(leaves):
        k *= 2
    return ind_node(ind_mth(leaves[:k]), ind_mth(leaves[k:]))


def ind_verify_inclusion(leaf: bytes, index: int, size: int, path: list[bytes], root: bytes) -> bool:
    """RFC 9162 2.1.3.2."""
    if index >= size:
        return False
    fn, sn, r = index, size - 1, leaf
    for p in path:
        if sn == 0:
            return False
        if fn % 2 == 1 or fn == sn:
            r = ind_node(p, r)
            while fn % 2 == 0 and fn != 0:
                fn //= 2
                sn //= 2
        else:
            r = ind_node(r, p)
        fn //= 2
        sn //= 2
    return sn == 0 and r == root


def ind_verify_consistency(m: int, n: int, old_root: bytes, new_root: bytes, path: list[bytes]) -> bool:
    """RFC 9162 2.1.4.2."""
    if m == n:
        return not path and old_root == new_root
    if m == 0:
        return not path and old_root == hashlib.sha256(b"").digest()
    if m > n or not path:
        return False
    if m & (m - 1) == 0:
        path = [old_root, *path]
    fn, sn = m - 1, n - 1
    while fn % 2 == 1:
        fn //= 2
        sn //= 2
    fr = sr = path[0]
    for c in path[1:]:
        if sn == 0:
            return False
        if fn % 2 == 1 or fn == sn:
            fr = ind_node(c, fr)
            sr = ind_node(c, sr)
            while fn % 2 == 0 and fn != 0:
                fn //= 2
                sn //= 2
        else:
            sr = ind_node(sr, c)
        fn //= 2
        sn //= 2
    return fr == old_root and sr == new_root and sn == 0


def ind_checkpoint_ok(cp: dict, trusted_pem: str) -> bool:
    """The signed message of docs/audit-ledger.md, checked with the key the auditor holds."""
    key = serialization.load_pem_public_key(trusted_pem.encode())
    raw = key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    if cp["key_id"] != hashlib.sha256(raw).hexdigest():
        return False
    message = f"careaccess-checkpoint-v1\n{cp['tree_size']}\n{cp['root_hash']}\n{cp['made_at']}\n".encode()
    try:
        key.verify(base64.b64decode(cp["signature"]), message)
    except InvalidSignature:
        return False
    return True


def ind_check_inclusion_doc(doc: dict, trusted_pem: str) -> bool:
    cp = doc["checkpoint"]
    if not ind_checkpoint_ok(cp, trusted_pem):
        return False
    data = base64.b64decode(doc["leaf_bytes"])
    fields = json.loads(data)
    if fields[0] != "careaccess-audit-v1" or fields[1] != doc["leaf_index"]:
        return False
    leaf = ind_leaf(data)
    if leaf.hex() != doc["leaf_hash"]:
        return False
    return (
        doc["tree_size"] == cp["tree_size"]
        and doc["root_hash"] == cp["root_hash"]
        and ind_verify_inclusion(
            leaf,
            doc["leaf_index"],
            cp["tree_size"],
            [bytes.fromhex(h) for h in doc["audit_path"]],
            bytes.fromhex(cp["root_hash"]),
        )
    )


def ind_check_consistency_doc(doc: dict, held: dict, trusted_pem: str) -> bool:
    old, new = doc["old"], doc["new"]
    if not (ind_checkpoint_ok(new, trusted_pem) and ind_checkpoint_ok(held, trusted_pem)):
        return False
    if new["tree_size"] < held["tree_size"]:
        return False  # older than what I hold
    if old["tree_size"] != held["tree_size"] or old["root_hash"] != held["root_hash"]:
        return False
    return ind_verify_consistency(
        held["tree_size"],
        new["tree_size"],
        bytes.fromhex(held["root_hash"]),
        bytes.fromhex(new["root_hash"]),
        [bytes.fromhex(h) for h in doc["proof"]],
    )


def all_leaves() -> list[bytes]:
    return [bytes.fromhex(h) for (h,) in sql(f"SELECT leaf_hash FROM audit_entry ORDER BY {q('index')}")]


def resign(cp: dict, key: Ed25519PrivateKey, **changes) -> dict:
    """A checkpoint re-signed by `key` (a forger's), with its public key embedded."""
    cp = {**cp, **changes}
    pub = key.public_key()
    raw = pub.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    cp["key_id"] = hashlib.sha256(raw).hexdigest()
    cp["public_key"] = pub.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo).decode()
    message = f"careaccess-checkpoint-v1\n{cp['tree_size']}\n{cp['root_hash']}\n{cp['made_at']}\n".encode()
    cp["signature"] = base64.b64encode(key.sign(message)).decode()
    return cp


@pytest.fixture
def pem():
    return checkpoints.public_key_pem()


# --- proofs from the ledger -----------------------------------------------------------------


def test_every_entry_has_a_valid_inclusion_proof(pem):  # rule PP9
    append(3, tag="proofs")
    n = ensure(37)
    cp = checkpoints.make_checkpoint()
    assert cp.tree_size == n
    assert ind_mth(all_leaves()) == bytes.fromhex(cp.root_hash)
    for index in range(n):
        doc = proofs.inclusion(index)
        assert ind_check_inclusion_doc(doc, pem), index
        assert doc["entry"]["index"] == index
        assert offline.check_inclusion(doc, public_key_pem=pem)["ok"]


def test_a_proof_against_an_older_checkpoint(pem):
    ensure(5)
    old = checkpoints.make_checkpoint()
    append(6, tag="later")
    checkpoints.make_checkpoint()
    doc = proofs.inclusion(old.tree_size - 1, checkpoint_id=old.id)
    assert doc["tree_size"] == old.tree_size
    assert ind_check_inclusion_doc(doc, pem)


def test_consistency_proofs_between_checkpoints(pem):  # rule PP9
    ensure(1)
    made = [checkpoints.make_checkpoint()]
    for step in (1, 2, 5, 8, 3, 16):
        append(step, tag="grow")
        made.append(checkpoints.make_checkpoint())
    for i, old in enumerate(made):
        for new in made[i:]:
            doc = proofs.consistency(old.id, new.id)
            held = checkpoints.export(old)
            assert ind_check_consistency_doc(doc, held, pem), (old.tree_size, new.tree_size)
            assert offline.check_consistency(doc, trusted=held)["new_size"] == new.tree_size
    by_size = proofs.consistency(old_size=made[1].tree_size, new_size=made[-1].tree_size)
    assert by_size["old"]["tree_size"] == made[1].tree_size
    latest = proofs.consistency(made[2].id)  # the newest checkpoint by default
    assert latest["new"]["tree_size"] == size()


def test_a_proof_reads_its_nodes_with_one_query():
    append(20, tag="one-query")
    n = size()
    with CaptureQueriesContext(connection) as ctx:
        path = merkle.inclusion_proof(n // 3, n, proofs.get_nodes)
    assert len(ctx.captured_queries) == 1
    assert len(path) > 1
    with CaptureQueriesContext(connection) as ctx:
        merkle.consistency_proof(n // 2 + 1, n, proofs.get_nodes)
    assert len(ctx.captured_queries) == 1


def test_a_proof_is_not_accepted_by_the_independent_verifier_for_another_entry(pem):
    ensure(10)
    checkpoints.make_checkpoint()
    doc = proofs.inclusion(4)
    other = proofs.inclusion(5)
    doc["leaf_bytes"], doc["leaf_hash"] = other["leaf_bytes"], other["leaf_hash"]
    assert not ind_check_inclusion_doc(doc, pem)
    with pytest.raises(offline.VerificationFailed):
        offline.check_inclusion(doc, public_key_pem=pem)


# --- clear errors ----------------------------------------------------------------------------


def test_an_unknown_entry_is_not_found():
    ensure(2)
    checkpoints.make_checkpoint()
    with pytest.raises(NotFound, match="no audit entry"):
        proofs.inclusion(size() + 1000)


def test_an_entry_not_yet_covered_by_a_checkpoint_is_refused():
    ensure(2)
    checkpoints.make_checkpoint()
    [entry] = append(1, tag="uncovered")
    with pytest.raises(InvalidInput, match="not yet covered"):
        proofs.inclusion(entry.index)


def test_unknown_checkpoints_and_backwards_ranges_are_refused():
    ensure(3)
    a = checkpoints.make_checkpoint()
    append(2, tag="more")
    b = checkpoints.make_checkpoint()
    with pytest.raises(InvalidInput, match="put the older one first"):
        proofs.consistency(b.id, a.id)
    with pytest.raises(NotFound, match="no checkpoint"):
        proofs.consistency(a.id, 10**9)
    with pytest.raises(NotFound, match="no checkpoint"):
        proofs.inclusion(0, checkpoint_id=10**9)
    with pytest.raises(NotFound, match="tree size"):
        proofs.consistency(old_size=b.tree_size + 10**6)


def test_no_checkpoint_at_all_is_a_clear_error(monkeypatch):
    ensure(1)
    monkeypatch.setattr(checkpoints, "latest_checkpoint", lambda: None)
    with pytest.raises(NotFound, match="audit checkpoint"):
        proofs.inclusion(0)


# --- forged, foreign and stale checkpoints ---------------------------------------------------


@pytest.fixture
def proof_doc():
    ensure(12)
    checkpoints.make_checkpoint()
    return proofs.inclusion(7)


def test_a_forged_signature_is_rejected(proof_doc, pem):
    forged = copy.deepcopy(proof_doc)
    sig = bytearray(base64.b64decode(forged["checkpoint"]["signature"]))
    sig[0] ^= 1
    forged["checkpoint"]["signature"] = base64.b64encode(bytes(sig)).decode()
    assert not ind_check_inclusion_doc(forged, pem)
    with pytest.raises(offline.VerificationFailed, match="forged"):
        offline.check_inclusion(forged, public_key_pem=pem)


def test_a_changed_root_under_the_real_signature_is_rejected(proof_doc, pem):
    forged = copy.deepcopy(proof_doc)
    forged["checkpoint"]["root_hash"] = forged["root_hash"] = "00" * 32
    assert not ind_check_inclusion_doc(forged, pem)
    with pytest.raises(offline.VerificationFailed):
        offline.check_inclusion(forged, public_key_pem=pem)


def test_a_checkpoint_signed_by_a_foreign_key_is_rejected(proof_doc, pem):
    forger = Ed25519PrivateKey.generate()
    forged = copy.deepcopy(proof_doc)
    forged["checkpoint"] = resign(forged["checkpoint"], forger)
    # Self-consistent under the forger's own key...
    assert ind_check_inclusion_doc(forged, forged["checkpoint"]["public_key"])
    # ...but not under the key the auditor holds.
    assert not ind_check_inclusion_doc(forged, pem)
    with pytest.raises(offline.VerificationFailed, match="foreign key"):
        offline.check_inclusion(forged, public_key_pem=pem)
    with pytest.raises(offline.VerificationFailed, match="foreign key"):
        offline.check_inclusion(forged, trusted=proof_doc["checkpoint"])


def test_a_checkpoint_older_than_the_one_held_is_rejected(pem):
    ensure(4)
    old = checkpoints.make_checkpoint()
    append(3, tag="newer")
    new = checkpoints.make_checkpoint()
    held = checkpoints.export(new)
    stale_proof = proofs.inclusion(0, checkpoint_id=old.id)
    with pytest.raises(offline.VerificationFailed, match="older than the checkpoint you hold"):
        offline.check_inclusion(stale_proof, trusted=held)
    # A consistency "proof" that would move the auditor back to the old checkpoint:
    backwards = {"format": offline.CONSISTENCY_FORMAT, "old": held, "new": checkpoints.export(old), "proof": []}
    assert not ind_check_consistency_doc(backwards, held, pem)
    with pytest.raises(offline.VerificationFailed, match="older than the checkpoint you hold"):
        offline.check_consistency(backwards, trusted=held)


def test_a_fork_is_rejected(pem):
    ensure(4)
    real = checkpoints.make_checkpoint()
    append(2, tag="fork")
    new = checkpoints.make_checkpoint()
    doc = proofs.consistency(real.id, new.id)
    # The auditor holds a checkpoint of the same size with another root (signed by the real key,
    # e.g. by a compromised server that showed different auditors different ledgers).
    other = checkpoints.export(real)
    other["root_hash"] = "11" * 32
    other["signature"] = checkpoints.sign(other["tree_size"], other["root_hash"], other["made_at"])
    assert not ind_check_consistency_doc(doc, other, pem)
    with pytest.raises(offline.VerificationFailed, match="fork"):
        offline.check_consistency(doc, trusted=other)


def test_a_tampered_consistency_proof_is_rejected(pem):
    ensure(5)
    a = checkpoints.make_checkpoint()
    append(9, tag="tamper-proof")
    b = checkpoints.make_checkpoint()
    doc = proofs.consistency(a.id, b.id)
    held = checkpoints.export(a)
    doc["proof"][0] = "22" * 32
    assert not ind_check_consistency_doc(doc, held, pem)
    with pytest.raises(offline.VerificationFailed):
        offline.check_consistency(doc, trusted=held)


def test_malformed_documents_are_bad_input():
    with pytest.raises(offline.MalformedInput):
        offline.check_inclusion({"format": "something else"})
    with pytest.raises(offline.MalformedInput):
        offline.load_json("{not json", "the proof file")
    with pytest.raises(offline.MalformedInput):
        offline.check_inclusion({"format": offline.INCLUSION_FORMAT, "checkpoint": {"format": "x"}})


def test_checkpoints_table_keeps_what_was_signed():
    ensure(1)
    cp = checkpoints.make_checkpoint()
    stored = Checkpoint.objects.get(id=cp.id)
    assert ind_checkpoint_ok(checkpoints.export(stored), checkpoints.public_key_pem())
