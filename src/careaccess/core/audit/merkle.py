"""RFC 9162 (Certificate Transparency v2) Merkle tree over SHA-256, section 2.1.

The audit ledger is an append-only list of leaf hashes. Three things keep it cheap at any size:

* `Frontier` is the whole state an append needs (one hash per set bit of the size), so writing
  an entry never reads earlier entries.
* Only *perfect, aligned* subtrees are stored (level 0 = leaf hashes; level L, index i covers
  leaves [i*2^L, (i+1)*2^L)). They never change once complete, so a row is written once. The
  ragged right edge of a tree is composed here from those pieces on demand.
* Proof generation first works out every key it needs, then makes ONE `get_nodes` call (one
  database query), then assembles the proof: O(log n) nodes, no rescans.

Verification (`verify_inclusion`, `verify_consistency`) is standalone and follows RFC 9162
sections 2.1.3.2 and 2.1.4.2 step by step, so an outside auditor can check it against the RFC.

Pure stdlib; no Django, no database.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping, Sequence
from typing import Protocol

__all__ = [
    "EMPTY_ROOT",
    "HASH_SIZE",
    "Frontier",
    "GetNodes",
    "MissingNodesError",
    "NodeKey",
    "ProofError",
    "consistency_proof",
    "inclusion_proof",
    "leaf_hash",
    "node_hash",
    "root_at",
    "subtree_root",
    "verify_consistency",
    "verify_inclusion",
]

HASH_SIZE = 32

NodeKey = tuple[int, int]
"""(level, index) of a perfect aligned subtree; level 0 is a leaf hash."""


class GetNodes(Protocol):
    """The node store: one call returns the hashes for all requested keys (one DB query)."""

    def __call__(self, keys: list[NodeKey], /) -> Mapping[NodeKey, bytes]: ...


class ProofError(ValueError):
    """A proof or root was asked for that cannot exist, or the store cannot supply it."""


class MissingNodesError(ProofError):
    """The store lacks nodes a proof needs: the ledger is damaged or the size is wrong."""

    def __init__(self, missing: Iterable[NodeKey]):
        self.missing: list[NodeKey] = sorted(missing)
        shown = ", ".join(f"(level={lv}, index={ix})" for lv, ix in self.missing[:10])
        more = f" and {len(self.missing) - 10} more" if len(self.missing) > 10 else ""
        super().__init__(f"node store is missing {len(self.missing)} node(s): {shown}{more}")


def _sha256(data: bytes) -> bytes:
    return hashlib.sha256(data).digest()


def leaf_hash(data: bytes) -> bytes:
    """The 0x00 prefix keeps a leaf from ever being mistaken for an interior node (RFC 9162 2.1.1)."""
    return hashlib.sha256(b"\x00" + data).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    """The 0x01 prefix separates interior nodes from leaves (second-preimage resistance)."""
    return hashlib.sha256(b"\x01" + left + right).digest()


EMPTY_ROOT = _sha256(b"")
"""MTH({}) = SHA-256 of the empty string: the root of a tree with no leaves."""


def _split(n: int) -> int:
    """Largest power of two strictly below n (n >= 2): where RFC 9162 splits D[n]."""
    return 1 << ((n - 1).bit_length() - 1)


def _check_hash(value: object, what: str) -> bytes:
    if not isinstance(value, (bytes, bytearray, memoryview)):
        raise TypeError(f"{what} must be bytes, not {type(value).__name__}")
    value = bytes(value)
    if len(value) != HASH_SIZE:
        raise ValueError(f"{what} must be {HASH_SIZE} bytes, got {len(value)}")
    return value


class Frontier:
    """Compact state of an append-only tree: the roots of its perfect subtrees, largest first.

    There is one root per set bit of `size`, so a row of at most log2(n) + 1 hashes is enough to
    append and to compute the current root without touching any earlier entry.
    """

    __slots__ = ("_size", "_hashes")

    def __init__(self) -> None:
        self._size = 0
        self._hashes: list[bytes] = []

    @property
    def size(self) -> int:
        return self._size

    def append(self, leaf: bytes) -> list[tuple[int, int, bytes]]:
        """Add a leaf hash; return the perfect subtrees it completed as (level, index, hash).

        Those (level >= 1) are exactly the rows the caller must store for later proofs; the
        leaf hash itself is the level-0 node and is stored by the caller with its entry.
        """
        h = _check_hash(leaf, "leaf hash")
        completed: list[tuple[int, int, bytes]] = []
        index = self._size
        level = 0
        while index & 1:  # each trailing 1 bit is an equal-sized subtree waiting for a sibling
            h = node_hash(self._hashes.pop(), h)
            level += 1
            index >>= 1
            completed.append((level, index, h))
        self._hashes.append(h)
        self._size += 1
        return completed

    def root(self) -> bytes:
        """MTH of all leaves so far: fold the perfect roots right to left (RFC 9162 2.1.1)."""
        if not self._hashes:
            return EMPTY_ROOT
        r = self._hashes[-1]
        for h in reversed(self._hashes[:-1]):
            r = node_hash(h, r)
        return r

    def nodes(self) -> list[tuple[int, int, bytes]]:
        """The frontier's hashes with their (level, index) keys, largest first."""
        out = []
        start = 0
        for level in range(self._size.bit_length() - 1, -1, -1):
            if self._size >> level & 1:
                out.append((level, start >> level, self._hashes[len(out)]))
                start += 1 << level
        return out

    def to_list(self) -> list[bytes]:
        """The hashes to keep next to `size` in a database row, largest subtree first."""
        return list(self._hashes)

    def to_bytes(self) -> bytes:
        """Same as `to_list`, concatenated: 32 bytes per set bit of `size`."""
        return b"".join(self._hashes)

    @classmethod
    def from_list(cls, size: int, hashes: Sequence[bytes]) -> Frontier:
        """Rebuild from a stored row; the hash count must match the size, or the row is corrupt."""
        if not isinstance(size, int) or isinstance(size, bool) or size < 0:
            raise ValueError(f"frontier size must be a non-negative int, got {size!r}")
        expected = size.bit_count()
        if len(hashes) != expected:
            raise ValueError(f"a frontier of size {size} has {expected} hash(es), got {len(hashes)}")
        f = cls()
        f._size = size
        f._hashes = [_check_hash(h, f"frontier hash {i}") for i, h in enumerate(hashes)]
        return f

    @classmethod
    def from_bytes(cls, size: int, data: bytes) -> Frontier:
        data = bytes(data)
        if len(data) % HASH_SIZE:
            raise ValueError(f"frontier bytes must be a multiple of {HASH_SIZE} long, got {len(data)}")
        return cls.from_list(size, [data[i : i + HASH_SIZE] for i in range(0, len(data), HASH_SIZE)])

    @classmethod
    def from_leaves(cls, leaves: Iterable[bytes]) -> Frontier:
        f = cls()
        for leaf in leaves:
            f.append(leaf)
        return f

    def copy(self) -> Frontier:
        return Frontier.from_list(self._size, self._hashes)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Frontier):
            return NotImplemented
        return self._size == other._size and self._hashes == other._hashes

    def __repr__(self) -> str:
        return f"Frontier(size={self._size}, root={self.root().hex()})"


# --- proof generation against a node store -------------------------------------------------


def _pieces(start: int, end: int) -> list[NodeKey]:
    """Perfect aligned subtrees that make up [start, end), largest first.

    MTH(D[start:end]) splits off a perfect left part of size 2^(top bit of the length) each
    time, so the pieces are the binary decomposition of the length, provided start is aligned
    to that top power of two (true for every subtree RFC 9162 PATH/PROOF can name).
    """
    n = end - start
    if n > 0 and start % (1 << (n.bit_length() - 1)):
        raise ProofError(
            f"[{start}, {end}) is not a subtree of the log: its start must be a multiple of "
            f"{1 << (n.bit_length() - 1)}"
        )
    keys = []
    while n:
        level = n.bit_length() - 1
        keys.append((level, start >> level))
        start += 1 << level
        n -= 1 << level
    return keys


def _compose(keys: list[NodeKey], nodes: Mapping[NodeKey, bytes]) -> bytes:
    if not keys:
        return EMPTY_ROOT
    r = nodes[keys[-1]]
    for key in reversed(keys[:-1]):
        r = node_hash(nodes[key], r)
    return r


def _fetch(ranges: list[tuple[int, int]], get_nodes: GetNodes) -> list[bytes]:
    """Hash of each range, with one store call for all of them."""
    pieces = [_pieces(s, e) for s, e in ranges]
    wanted = sorted({k for p in pieces for k in p})
    if not wanted:
        return [EMPTY_ROOT for _ in ranges]
    got = get_nodes(wanted)
    nodes: dict[NodeKey, bytes] = {}
    missing = []
    for key in wanted:
        value = got.get(key)
        if value is None:
            missing.append(key)
            continue
        value = bytes(value)  # a database may hand back memoryview
        if len(value) != HASH_SIZE:
            raise ProofError(f"node store returned {len(value)} bytes for (level={key[0]}, index={key[1]})")
        nodes[key] = value
    if missing:
        raise MissingNodesError(missing)
    return [_compose(p, nodes) for p in pieces]


def _check_size(name: str, value: int) -> None:
    if not isinstance(value, int) or isinstance(value, bool):
        raise TypeError(f"{name} must be an int, not {type(value).__name__}")
    if value < 0:
        raise ProofError(f"{name} must not be negative, got {value}")


def _path_ranges(index: int, size: int) -> list[tuple[int, int]]:
    """Sibling subtrees of PATH(index, D[size]) (RFC 9162 2.1.3.1), leaf side first."""
    out = []
    start, end = 0, size
    while end - start > 1:
        k = _split(end - start)
        if index < start + k:
            out.append((start + k, end))
            end = start + k
        else:
            out.append((start, start + k))
            start += k
    out.reverse()
    return out


def _proof_ranges(old_size: int, new_size: int) -> list[tuple[int, int]]:
    """Subtrees of PROOF(m, D[n]) = SUBPROOF(m, D[n], true) (RFC 9162 2.1.4.1), in proof order."""
    out = []
    start, end, whole = 0, new_size, True
    while True:
        n, m = end - start, old_size - start
        if m == n:
            if not whole:
                out.append((start, end))
            break
        k = _split(n)
        if m <= k:
            out.append((start + k, end))
            end = start + k
        else:
            out.append((start, start + k))
            start += k
            whole = False
    out.reverse()
    return out


def inclusion_proof(index: int, size: int, get_nodes: GetNodes) -> list[bytes]:
    """RFC 9162 PATH(index, D[size]): what a client needs to tie one entry to a signed root."""
    _check_size("index", index)
    _check_size("size", size)
    if size == 0:
        raise ProofError("no inclusion proof exists in an empty tree (size 0)")
    if index >= size:
        raise ProofError(f"leaf index {index} is not in a tree of size {size} (index must be < size)")
    return _fetch(_path_ranges(index, size), get_nodes)


def consistency_proof(old_size: int, new_size: int, get_nodes: GetNodes) -> list[bytes]:
    """RFC 9162 PROOF(old_size, D[new_size]): shows the older tree is a prefix of the newer one.

    Defined for 0 < old_size <= new_size; equal sizes give an empty proof.
    """
    _check_size("old_size", old_size)
    _check_size("new_size", new_size)
    if old_size > new_size:
        raise ProofError(f"old_size {old_size} is larger than new_size {new_size}: a log only grows")
    if old_size == 0:
        raise ProofError("no consistency proof exists from an empty tree (old_size 0)")
    return _fetch(_proof_ranges(old_size, new_size), get_nodes)


def subtree_root(start: int, end: int, get_nodes: GetNodes) -> bytes:
    """MTH(D[start:end]) from stored perfect pieces, in one store call.

    start must be a multiple of the largest power of two <= end - start (every prefix, and every
    subtree of the tree, qualifies); other ranges would need O(n) leaves and are refused.
    """
    _check_size("start", start)
    _check_size("end", end)
    if start > end:
        raise ProofError(f"start {start} is after end {end}")
    return _fetch([(start, end)], get_nodes)[0]


def root_at(size: int, get_nodes: GetNodes) -> bytes:
    """Root of the first `size` leaves, e.g. to re-check an old checkpoint against the store."""
    return subtree_root(0, size, get_nodes)


# --- standalone verification (RFC 9162 2.1.3.2 and 2.1.4.2) ---------------------------------


def _is_hash(value: object) -> bool:
    return isinstance(value, (bytes, bytearray)) and len(value) == HASH_SIZE


def _is_size(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def verify_inclusion(leaf: bytes, index: int, size: int, proof: Sequence[bytes], root: bytes) -> bool:
    """True iff `proof` shows leaf hash `leaf` at `index` in the tree of `size` with `root`.

    `leaf` is the leaf *hash* (leaf_hash(entry bytes)), as in the RFC. Never raises on bad input:
    an auditor feeding it untrusted data gets False.
    """
    if not (_is_hash(leaf) and _is_hash(root) and _is_size(index) and _is_size(size)):
        return False
    if not isinstance(proof, (list, tuple)) or not all(_is_hash(p) for p in proof):
        return False
    # 1. leaf_index must be < tree_size.
    if index >= size:
        return False
    # 2. fn = leaf_index, sn = tree_size - 1.
    fn, sn = index, size - 1
    # 3. r = hash.
    r = bytes(leaf)
    # 4. For each p in the inclusion path:
    for p in proof:
        if sn == 0:  # a. path is longer than the tree is deep
            return False
        if fn & 1 or fn == sn:  # b.
            r = node_hash(bytes(p), r)
            if not fn & 1:
                while not (fn & 1 or fn == 0):
                    fn >>= 1
                    sn >>= 1
        else:
            r = node_hash(r, bytes(p))
        fn >>= 1  # c.
        sn >>= 1
    # 5. sn must be 0 and r must equal the root.
    return sn == 0 and r == bytes(root)


def verify_consistency(
    old_size: int, new_size: int, old_root: bytes, new_root: bytes, proof: Sequence[bytes]
) -> bool:
    """True iff `proof` shows the tree (old_size, old_root) is a prefix of (new_size, new_root).

    Equal sizes: only an empty proof and equal roots verify. old_size 0 < new_size: False, as
    RFC 9162 defines no proof from an empty tree (an empty checkpoint commits to nothing, so
    callers should not need one). Never raises on bad input.
    """
    if not (_is_hash(old_root) and _is_hash(new_root) and _is_size(old_size) and _is_size(new_size)):
        return False
    if not isinstance(proof, (list, tuple)) or not all(_is_hash(p) for p in proof):
        return False
    if old_size > new_size:
        return False
    if old_size == new_size:
        return len(proof) == 0 and bytes(old_root) == bytes(new_root)
    if old_size == 0:
        return False
    path = [bytes(p) for p in proof]
    # 1. An empty path cannot prove anything between different sizes.
    if not path:
        return False
    # 2. If first is an exact power of 2, prepend first_hash (the old root is itself a node).
    if old_size & (old_size - 1) == 0:
        path.insert(0, bytes(old_root))
    # 3.
    fn, sn = old_size - 1, new_size - 1
    # 4. Skip the levels where the old tree's right edge is a right child.
    while fn & 1:
        fn >>= 1
        sn >>= 1
    # 5.
    fr = sr = path[0]
    # 6.
    for c in path[1:]:
        if sn == 0:  # a.
            return False
        if fn & 1 or fn == sn:  # b.
            fr = node_hash(c, fr)
            sr = node_hash(c, sr)
            if not fn & 1:
                while not (fn & 1 or fn == 0):
                    fn >>= 1
                    sn >>= 1
        else:
            sr = node_hash(sr, c)
        fn >>= 1  # c.
        sn >>= 1
    # 7.
    return fr == bytes(old_root) and sr == bytes(new_root) and sn == 0

