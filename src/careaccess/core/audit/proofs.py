"""Inclusion and consistency proofs from the ledger's stored nodes (RFC 9162 2.1.3, 2.1.4).

Each proof reads its O(log n) hashes with ONE query (`get_nodes`): leaf hashes (level 0) from
audit_entry and completed subtree hashes (level >= 1) from audit_node. Every proof is checked
against its signed root, and that root's signature against the ledger's key list, before it is
handed out, so a damaged node store or a forged checkpoint is reported here rather than by the
auditor.

The documents returned are what `careaccess audit prove` / `audit consistency` print and what
`audit check-proof` / `audit check-consistency` (offline.py) verify.
"""

from __future__ import annotations

import base64

from django.db import connection

from careaccess.core.errors import CareAccessError, InvalidInput, NotFound

from . import checkpoints as cps
from . import merkle
from .ledger import LEAF_FIELDS, format_time, leaf_bytes, node_key
from .models import Checkpoint, Entry
from .offline import CONSISTENCY_FORMAT, INCLUSION_FORMAT


class LedgerDamaged(CareAccessError):
    """The stored nodes do not reproduce a signed root: run `careaccess audit verify`."""

    status = 500
    title = "Audit ledger damaged"


def get_nodes(keys: list[tuple[int, int]]) -> dict[tuple[int, int], bytes]:
    """Hashes of the requested (level, index) subtrees, in one query."""
    leaves = [index for level, index in keys if level == 0]
    nodes = [node_key(level, index) for level, index in keys if level > 0]
    q = connection.ops.quote_name
    parts, params = [], []
    if leaves:
        parts.append(f"SELECT 0, {q('index')}, leaf_hash FROM audit_entry WHERE {q('index')} IN ({', '.join(['%s'] * len(leaves))})")
        params += leaves
    if nodes:
        parts.append(f"SELECT 1, {q('key')}, hash FROM audit_node WHERE {q('key')} IN ({', '.join(['%s'] * len(nodes))})")
        params += nodes
    if not parts:
        return {}
    out: dict[tuple[int, int], bytes] = {}
    mask = (1 << 48) - 1
    with connection.cursor() as cursor:
        cursor.execute(" UNION ALL ".join(parts), params)
        for is_node, key, value in cursor.fetchall():
            if is_node:
                out[(key >> 48, key & mask)] = bytes.fromhex(value)
            else:
                out[(0, key)] = bytes.fromhex(value)
    return out


def _checkpoint(checkpoint_id: int | None = None, tree_size: int | None = None) -> Checkpoint:
    if checkpoint_id is not None:
        return cps.get_checkpoint(checkpoint_id)
    if tree_size is not None:
        return cps.checkpoint_at_size(tree_size)
    latest = cps.latest_checkpoint()
    if latest is None:
        raise NotFound("no checkpoint has been made yet: run `careaccess audit checkpoint` first")
    return latest


def _signed(checkpoint: Checkpoint) -> dict:
    """The checkpoint as exported, once its signature is checked with the ledger's key list: a row
    naming a key that is not listed, made outside its key's time or not signed by it is refused,
    so no proof is handed out against a forged checkpoint."""
    from .offline import MalformedInput, VerificationFailed, check_signature, parse_checkpoint

    try:
        keys = cps.listed_keys()
        doc = cps.export(checkpoint, keys)
        if checkpoint.key_id not in keys:
            raise VerificationFailed(
                f"checkpoint {checkpoint.id} names key {checkpoint.key_id[:16]}…, which is not one of the ledger's "
                "keys (`careaccess audit public-key`): a foreign or forged signature"
            )
        check_signature(parse_checkpoint(doc), keys, f"checkpoint {checkpoint.id}")
    except (MalformedInput, VerificationFailed) as exc:
        raise LedgerDamaged(f"{exc}; run `careaccess audit verify`") from None
    return doc


def entry_fields(entry: Entry) -> dict:
    values = {name: getattr(entry, name) for name in LEAF_FIELDS}
    values["recorded_at"] = format_time(entry.recorded_at)
    return values


def inclusion(index: int, *, checkpoint_id: int | None = None) -> dict:
    """Proof that entry `index` is in the tree a checkpoint signed (the latest by default)."""
    if not isinstance(index, int) or isinstance(index, bool) or index < 0:
        raise InvalidInput(f"an entry index is a whole number from 0, not {index!r}", field="entry")
    entry = Entry.objects.filter(index=index).first()  # a pending one is covered by no checkpoint yet
    if entry is None:
        raise NotFound(f"there is no audit entry {index}")
    checkpoint = _checkpoint(checkpoint_id)
    if index >= checkpoint.tree_size:
        raise InvalidInput(
            f"entry {index} is not yet covered by checkpoint {checkpoint.id} (tree size {checkpoint.tree_size}, "
            f"entries 0..{checkpoint.tree_size - 1}); make a newer one with `careaccess audit checkpoint`",
            field="entry",
        )
    fields = entry_fields(entry)
    data = leaf_bytes(fields)
    leaf = merkle.leaf_hash(data)
    if leaf.hex() != entry.leaf_hash:
        raise LedgerDamaged(f"entry {index} does not match its stored leaf hash: run `careaccess audit verify`")
    try:
        path = merkle.inclusion_proof(index, checkpoint.tree_size, get_nodes)
    except merkle.ProofError as exc:
        raise LedgerDamaged(f"cannot build the proof for entry {index}: {exc}") from None
    root = bytes.fromhex(checkpoint.root_hash)
    if not merkle.verify_inclusion(leaf, index, checkpoint.tree_size, path, root):
        raise LedgerDamaged(
            f"the stored nodes do not lead entry {index} to checkpoint {checkpoint.id}'s root: "
            "run `careaccess audit verify`"
        )
    return {
        "format": INCLUSION_FORMAT,
        "leaf_index": index,
        "leaf_hash": leaf.hex(),
        "leaf_bytes": base64.b64encode(data).decode("ascii"),
        "entry": fields,
        "tree_size": checkpoint.tree_size,
        "root_hash": checkpoint.root_hash,
        "audit_path": [h.hex() for h in path],
        "checkpoint": _signed(checkpoint),
    }


def consistency(
    old: int | None = None,
    new: int | None = None,
    *,
    old_size: int | None = None,
    new_size: int | None = None,
) -> dict:
    """Proof that checkpoint `old`'s tree is a prefix of checkpoint `new`'s (ids, or tree sizes).

    Without `new` (or `new_size`) the latest checkpoint is used.
    """
    if old is None and old_size is None:
        raise InvalidInput("name the old checkpoint, by id or by tree size", field="old")
    old_cp = _checkpoint(old, old_size)
    new_cp = _checkpoint(new, new_size)
    if old_cp.tree_size > new_cp.tree_size:
        raise InvalidInput(
            f"checkpoint {old_cp.id} (tree size {old_cp.tree_size}) is newer than checkpoint {new_cp.id} "
            f"(tree size {new_cp.tree_size}): put the older one first",
            field="old",
        )
    m, n = old_cp.tree_size, new_cp.tree_size
    old_root, new_root = bytes.fromhex(old_cp.root_hash), bytes.fromhex(new_cp.root_hash)
    if m == 0 or m == n:
        path = []
    else:
        try:
            path = merkle.consistency_proof(m, n, get_nodes)
        except merkle.ProofError as exc:
            raise LedgerDamaged(f"cannot build the consistency proof: {exc}") from None
    from .offline import consistent

    if not consistent(m, n, old_root, new_root, path):
        raise LedgerDamaged(
            f"checkpoint {old_cp.id} (size {m}) is not a prefix of checkpoint {new_cp.id} (size {n}) by the stored "
            "nodes: the ledger was rewritten; run `careaccess audit verify`"
        )
    return {
        "format": CONSISTENCY_FORMAT,
        "old": _signed(old_cp),
        "new": _signed(new_cp),
        "proof": [h.hex() for h in path],
    }
