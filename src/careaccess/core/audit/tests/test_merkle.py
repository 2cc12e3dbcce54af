"""Tests for the RFC 9162 Merkle tree: reference roots and proofs computed naively from the
RFC's recursive definitions, known-answer vectors, exhaustive small trees, tampering, and
hypothesis properties over trees of a few thousand leaves. Pure: no Django, no database."""

from __future__ import annotations

import functools
import hashlib
import os
import pathlib
import random
import subprocess
import sys

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from careaccess.core.audit import merkle
from careaccess.core.audit.merkle import (
    EMPTY_ROOT,
    Frontier,
    MissingNodesError,
    ProofError,
    consistency_proof,
    inclusion_proof,
    leaf_hash,
    node_hash,
    root_at,
    subtree_root,
    verify_consistency,
    verify_inclusion,
)

# --- references straight from the RFC 9162 definitions (section 2.1), sharing no code -------


def sha(data: bytes) -> bytes:
    return hashlib.sha256(data).digest()


def largest_pow2_below(n: int) -> int:
    k = 1
    while k * 2 < n:
        k *= 2
    return k


def ref_mth(data: list[bytes]) -> bytes:
    """MTH(D[n]) over raw leaf inputs, exactly as defined."""
    n = len(data)
    if n == 0:
        return sha(b"")
    if n == 1:
        return sha(b"\x00" + data[0])
    k = largest_pow2_below(n)
    return sha(b"\x01" + ref_mth(data[:k]) + ref_mth(data[k:]))


def ref_path(m: int, data: list[bytes], mth=ref_mth) -> list[bytes]:
    n = len(data)
    if n == 1:
        return []
    k = largest_pow2_below(n)
    if m < k:
        return ref_path(m, data[:k], mth) + [mth(data[k:])]
    return ref_path(m - k, data[k:], mth) + [mth(data[:k])]


def ref_subproof(m: int, data: list[bytes], b: bool, mth=ref_mth) -> list[bytes]:
    n = len(data)
    if m == n:
        return [] if b else [mth(data)]
    k = largest_pow2_below(n)
    if m <= k:
        return ref_subproof(m, data[:k], b, mth) + [mth(data[k:])]
    return ref_subproof(m - k, data[k:], False, mth) + [mth(data[:k])]


def ref_proof(m: int, data: list[bytes], mth=ref_mth) -> list[bytes]:
    return ref_subproof(m, data, True, mth)


# --- one shared tree built by Frontier, with its node store ---------------------------------

BIG = 4096
DATA = [b"careaccess audit entry %d" % i for i in range(BIG)]
LEAVES = [leaf_hash(d) for d in DATA]


class RecordingStore:
    """A dict node store that counts calls and remembers the keys asked for."""

    def __init__(self, nodes: dict):
        self.nodes = nodes
        self.calls: list[list[tuple[int, int]]] = []

    def __call__(self, keys):
        self.calls.append(list(keys))
        return {k: self.nodes[k] for k in keys if k in self.nodes}


def build(leaves):
    """Frontier over `leaves`; store = level-0 leaves + every node `append` reported."""
    f = Frontier()
    nodes: dict[tuple[int, int], bytes] = {}
    roots = [f.root()]
    for i, leaf in enumerate(leaves):
        nodes[(0, i)] = leaf
        for level, index, h in f.append(leaf):
            assert (level, index) not in nodes
            nodes[(level, index)] = h
        roots.append(f.root())
    return f, nodes, roots


BIG_FRONTIER, BIG_NODES, BIG_ROOTS = build(LEAVES)


@functools.lru_cache(maxsize=None)
def _ref_range(start: int, end: int) -> bytes:
    n = end - start
    if n == 0:
        return sha(b"")
    if n == 1:
        return sha(b"\x00" + DATA[start])
    k = largest_pow2_below(n)
    return sha(b"\x01" + _ref_range(start, start + k) + _ref_range(start + k, end))


class Slice(list):
    """A list of DATA that remembers where it starts, so the memoised reference can be used."""

    def __init__(self, start: int, end: int):
        super().__init__(DATA[start:end])
        self.start, self.end = start, end

    def __getitem__(self, item):
        if isinstance(item, slice):
            s, e, _ = item.indices(len(self))
            return Slice(self.start + s, self.start + e)
        return super().__getitem__(item)


def memo_mth(data: Slice) -> bytes:
    return _ref_range(data.start, data.end)


def prefix_store(size: int) -> RecordingStore:
    """Only the nodes that existed when the log had `size` entries."""
    return RecordingStore(
        {k: v for k, v in BIG_NODES.items() if (k[1] + 1) << k[0] <= size}
    )


def flip(h: bytes, bit: int = 0) -> bytes:
    return bytes([h[0] ^ (1 << bit)]) + h[1:]


# --- hashing and known answers ---------------------------------------------------------------

# RFC 6962 / certificate-transparency reference inputs and roots for 1..8 leaves.
CT_INPUTS = [bytes.fromhex(h) for h in ["", "00", "10", "2021", "3031", "40414243",
                                         "5051525354555657", "606162636465666768696a6b6c6d6e6f"]]
CT_ROOTS = [
    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
    "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
    "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
    "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
    "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
    "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
    "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
    "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
]
# (leaf index, tree size, proof) and (old size, new size, proof) from transparency-dev/merkle.
CT_INCLUSION = [
    (0, 8, ["96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4"]),
    (5, 8, ["bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
            "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"]),
    (2, 3, ["fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125"]),
    (1, 5, ["6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b"]),
]
CT_CONSISTENCY = [
    (1, 1, []),
    (1, 8, ["96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4"]),
    (6, 8, ["0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
            "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"]),
    (2, 5, ["5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b"]),
    (6, 7, ["0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
            "b08693ec2e721597130641e8211e7eedccb4c26413963eee6c1e2ed16ffb1a5f",
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"]),
]
CT_FRONTIER, CT_NODES, CT_TREE_ROOTS = build([leaf_hash(d) for d in CT_INPUTS])


def test_hash_primitives():
    assert EMPTY_ROOT.hex() == CT_ROOTS[0]
    assert leaf_hash(b"abc") == sha(b"\x00abc")
    assert node_hash(b"L" * 32, b"R" * 32) == sha(b"\x01" + b"L" * 32 + b"R" * 32)
    # Domain separation: a leaf over 64 bytes is not the interior node over the same bytes.
    assert leaf_hash(b"L" * 32 + b"R" * 32) != node_hash(b"L" * 32, b"R" * 32)


def test_known_answer_roots():
    assert [r.hex() for r in CT_TREE_ROOTS] == CT_ROOTS
    for size in range(9):
        assert root_at(size, RecordingStore(CT_NODES)).hex() == CT_ROOTS[size]


@pytest.mark.parametrize("index,size,expected", CT_INCLUSION)
def test_known_answer_inclusion(index, size, expected):
    proof = inclusion_proof(index, size, RecordingStore(CT_NODES))
    assert [p.hex() for p in proof] == expected
    assert verify_inclusion(leaf_hash(CT_INPUTS[index]), index, size, proof, CT_TREE_ROOTS[size])


@pytest.mark.parametrize("old,new,expected", CT_CONSISTENCY)
def test_known_answer_consistency(old, new, expected):
    proof = consistency_proof(old, new, RecordingStore(CT_NODES))
    assert [p.hex() for p in proof] == expected
    assert verify_consistency(old, new, CT_TREE_ROOTS[old], CT_TREE_ROOTS[new], proof)


# --- Frontier ---------------------------------------------------------------------------------


def test_frontier_root_matches_reference_every_size_up_to_300():
    f = Frontier()
    assert f.size == 0 and f.root() == EMPTY_ROOT == ref_mth([])
    for n in range(1, 301):
        f.append(leaf_hash(DATA[n - 1]))
        assert f.size == n
        assert f.root() == ref_mth(DATA[:n]), n
        assert len(f.to_list()) == bin(n).count("1")


@settings(max_examples=25, deadline=None)
@given(size=st.integers(0, 3000), seed=st.integers(0, 2**32))
def test_frontier_root_matches_reference_random_sizes_and_data(size, seed):
    rnd = random.Random(seed)
    data = [rnd.randbytes(rnd.randrange(0, 40)) for _ in range(size)]
    f = Frontier.from_leaves(leaf_hash(d) for d in data)
    assert f.size == size
    assert f.root() == ref_mth(data)


def test_append_reports_exactly_the_perfect_subtrees_it_completes():
    f = Frontier()
    for n in range(1, 600):
        completed = f.append(LEAVES[n - 1])
        expected = [(level, (n >> level) - 1) for level in range(1, n.bit_length()) if n % (1 << level) == 0]
        assert [(lv, ix) for lv, ix, _ in completed] == expected, n
        for level, index, h in completed:
            assert h == _ref_range(index << level, (index + 1) << level)


def test_frontier_nodes_keys_and_hashes():
    for size in (0, 1, 2, 3, 6, 7, 8, 11, 255, 256, 1000):
        f, _, _ = build(LEAVES[:size])
        start = 0
        for level, index, h in f.nodes():
            assert index << level == start
            assert h == _ref_range(start, start + (1 << level))
            start += 1 << level
        assert start == size


def test_frontier_serialisation_round_trip_and_resume():
    for split in (0, 1, 2, 5, 64, 100, 127, 128, 1000):
        f = Frontier.from_leaves(LEAVES[:split])
        g = Frontier.from_list(f.size, f.to_list())
        h = Frontier.from_bytes(f.size, f.to_bytes())
        assert g == f == h and g.root() == f.root()
        assert len(f.to_bytes()) == 32 * bin(split).count("1")
        straight = Frontier.from_leaves(LEAVES[:split])
        for leaf in LEAVES[split : split + 300]:
            assert g.append(leaf) == straight.append(leaf)
            assert g.root() == straight.root()
    # memoryview / bytearray from a database driver are accepted.
    f = Frontier.from_leaves(LEAVES[:5])
    assert Frontier.from_list(5, [memoryview(x) for x in f.to_list()]) == f
    assert Frontier.from_bytes(5, bytearray(f.to_bytes())) == f
    c = f.copy()
    c.append(LEAVES[5])
    assert f.size == 5 and c.size == 6


@settings(max_examples=100, deadline=None)
@given(split=st.integers(0, 2000), more=st.integers(0, 200))
def test_frontier_resume_property(split, more):
    g = Frontier.from_bytes(split, Frontier.from_leaves(LEAVES[:split]).to_bytes())
    for leaf in LEAVES[split : split + more]:
        g.append(leaf)
    assert g.size == min(split + more, BIG)
    assert g.root() == BIG_ROOTS[g.size]


def test_frontier_rejects_corrupt_state():
    f = Frontier.from_leaves(LEAVES[:6])
    with pytest.raises(ValueError, match="size 6 has 2 hash"):
        Frontier.from_list(6, f.to_list()[:1])
    with pytest.raises(ValueError, match="size 7 has 3"):
        Frontier.from_list(7, f.to_list())
    with pytest.raises(ValueError, match="32 bytes"):
        Frontier.from_list(1, [b"short"])
    with pytest.raises(ValueError, match="non-negative"):
        Frontier.from_list(-1, [])
    with pytest.raises(ValueError, match="multiple of 32"):
        Frontier.from_bytes(1, b"x" * 33)
    with pytest.raises(ValueError, match="32 bytes"):
        Frontier().append(b"not a hash")
    with pytest.raises(TypeError):
        Frontier().append("0" * 32)


# --- exhaustive small trees against the reference definitions --------------------------------

SMALL = range(1, 71)


@pytest.mark.parametrize("size", SMALL)
def test_inclusion_every_index(size):
    root = BIG_ROOTS[size]
    assert root == ref_mth(DATA[:size])
    other_roots = {BIG_ROOTS[s] for s in range(0, 72)} - {root}
    for index in range(size):
        store = prefix_store(size)
        proof = inclusion_proof(index, size, store)
        assert len(store.calls) == (1 if size > 1 else 0)
        assert proof == ref_path(index, DATA[:size])
        leaf = LEAVES[index]
        assert verify_inclusion(leaf, index, size, proof, root)

        for i in range(len(proof)):  # any flipped bit in any element
            for bit in (0, 7):
                bad = list(proof)
                bad[i] = flip(bad[i], bit)
                assert not verify_inclusion(leaf, index, size, bad, root)
        assert not verify_inclusion(flip(leaf), index, size, proof, root)
        assert not verify_inclusion(LEAVES[size], index, size, proof, root)  # a leaf not in the tree
        for wrong in {index - 1, index + 1, index ^ 1, index ^ 2, size} - {index}:
            if wrong >= 0:
                assert not verify_inclusion(leaf, wrong, size, proof, root), (index, wrong)
        assert not verify_inclusion(leaf, index, size, proof, flip(root))
        for r in other_roots:
            assert not verify_inclusion(leaf, index, size, proof, r)
        if proof:
            assert not verify_inclusion(leaf, index, size, proof[:-1], root)
            assert not verify_inclusion(leaf, index, size, proof[1:], root)
        assert not verify_inclusion(leaf, index, size, proof + [root], root)
        assert not verify_inclusion(leaf, index, size, [root] + proof, root)


@pytest.mark.parametrize("new", SMALL)
def test_consistency_every_pair(new):
    new_root = BIG_ROOTS[new]
    for old in range(1, new + 1):
        old_root = BIG_ROOTS[old]
        store = prefix_store(new)
        proof = consistency_proof(old, new, store)
        assert len(store.calls) == (0 if old == new else 1)
        assert proof == ref_proof(old, DATA[:new])
        assert verify_consistency(old, new, old_root, new_root, proof)

        if old == new:
            assert proof == []
            assert not verify_consistency(old, new, old_root, flip(new_root), proof)
            assert not verify_consistency(old, new, old_root, new_root, [old_root])
            continue

        probes = {
            "old-1": (old - 1, new, old_root, new_root, proof),
            "old+1": (old + 1, new, old_root, new_root, proof),
            "old^2": (old ^ 2, new, old_root, new_root, proof),
            "new*2": (old, new * 2, old_root, new_root, proof),
            "new/2": (old, new // 2, old_root, new_root, proof),
            "bad old root": (old, new, flip(old_root), new_root, proof),
            "bad new root": (old, new, old_root, flip(new_root), proof),
            "swapped roots": (old, new, new_root, old_root, proof),
            "empty proof": (old, new, old_root, new_root, []),
            "trailing old root": (old, new, old_root, new_root, proof + [old_root]),
            "trailing new root": (old, new, old_root, new_root, proof + [new_root]),
            "preceding old root": (old, new, old_root, new_root, [old_root] + proof),
            "preceding new root": (old, new, old_root, new_root, [new_root] + proof),
            "preceding proof[0]": (old, new, old_root, new_root, [proof[0]] + proof),
            "truncated": (old, new, old_root, new_root, proof[:-1]),
            "first dropped": (old, new, old_root, new_root, proof[1:]),
        }
        for i in range(len(proof)):
            for bit in (0, 4):
                bad = list(proof)
                bad[i] = flip(bad[i], bit)
                probes[f"flip {i}/{bit}"] = (old, new, old_root, new_root, bad)
        wrongly = [name for name, args in probes.items() if verify_consistency(*args)]
        assert not wrongly, (old, new, wrongly)


def test_subtree_root_every_aligned_range():
    store = RecordingStore(BIG_NODES)
    for start in range(0, 80):
        for end in range(start, 160):
            n = end - start
            if n and start % (1 << (n.bit_length() - 1)):
                with pytest.raises(ProofError, match="not a subtree"):
                    subtree_root(start, end, store)
            else:
                assert subtree_root(start, end, store) == _ref_range(start, end), (start, end)


# --- hypothesis properties over trees of a few thousand leaves ---------------------------------


@settings(max_examples=300, deadline=None)
@given(st.data())
def test_inclusion_property(data):
    size = data.draw(st.integers(1, BIG), label="size")
    index = data.draw(st.integers(0, size - 1), label="index")
    store = prefix_store(size) if size < 64 else RecordingStore(BIG_NODES)
    proof = inclusion_proof(index, size, store)
    assert len(store.calls) <= 1
    for level, i in store.calls[0] if store.calls else []:
        assert (i + 1) << level <= size, "asked for a node that did not exist yet at this size"
    assert len(proof) == path_length(index, size) <= (size - 1).bit_length()
    assert verify_inclusion(LEAVES[index], index, size, proof, BIG_ROOTS[size])
    if proof:
        k = data.draw(st.integers(0, len(proof) - 1), label="tampered element")
        bad = list(proof)
        bad[k] = flip(bad[k], data.draw(st.integers(0, 7), label="bit"))
        assert not verify_inclusion(LEAVES[index], index, size, bad, BIG_ROOTS[size])
    if size > 1:
        other = data.draw(st.integers(0, size - 1).filter(lambda j: j != index), label="other index")
        assert not verify_inclusion(LEAVES[index], other, size, proof, BIG_ROOTS[size])


def path_length(index: int, size: int) -> int:
    """Depth of leaf `index` in the RFC tree of `size` leaves (shallower on the ragged edge)."""
    depth = 0
    while size > 1:
        k = largest_pow2_below(size)
        depth += 1
        if index < k:
            size = k
        else:
            index, size = index - k, size - k
    return depth


@settings(max_examples=300, deadline=None)
@given(st.data())
def test_consistency_property(data):
    new = data.draw(st.integers(1, BIG), label="new")
    old = data.draw(st.integers(1, new), label="old")
    store = RecordingStore(BIG_NODES)
    proof = consistency_proof(old, new, store)
    assert len(store.calls) == (0 if old == new else 1)
    for level, i in store.calls[0] if store.calls else []:
        assert (i + 1) << level <= new, "asked for a node that did not exist yet at this size"
    assert len(proof) <= 2 * (new - 1).bit_length()
    assert verify_consistency(old, new, BIG_ROOTS[old], BIG_ROOTS[new], proof)
    if proof:
        k = data.draw(st.integers(0, len(proof) - 1), label="tampered element")
        bad = list(proof)
        bad[k] = flip(bad[k], data.draw(st.integers(0, 7), label="bit"))
        assert not verify_consistency(old, new, BIG_ROOTS[old], BIG_ROOTS[new], bad)
        assert not verify_consistency(old, new, BIG_ROOTS[old], flip(BIG_ROOTS[new]), proof)
        assert not verify_consistency(old, new, flip(BIG_ROOTS[old]), BIG_ROOTS[new], proof)


@settings(max_examples=60, deadline=None)
@given(st.data())
def test_proofs_match_reference_definitions_property(data):
    """The RFC test shape: proofs from the Frontier-built store equal PATH/PROOF from the definition."""
    new = data.draw(st.integers(1, BIG), label="new")
    old = data.draw(st.integers(1, new), label="old")
    index = data.draw(st.integers(0, new - 1), label="index")
    store = RecordingStore(BIG_NODES)
    assert inclusion_proof(index, new, store) == ref_path(index, Slice(0, new), memo_mth)
    assert consistency_proof(old, new, store) == ref_proof(old, Slice(0, new), memo_mth)
    assert root_at(new, store) == BIG_ROOTS[new] == memo_mth(Slice(0, new))


@settings(max_examples=200, deadline=None)
@given(size=st.integers(0, BIG))
def test_root_at_property(size):
    store = prefix_store(size) if size < 64 else RecordingStore(BIG_NODES)
    assert root_at(size, store) == BIG_ROOTS[size]
    assert len(store.calls) == (0 if size == 0 else 1)
    assert len(store.calls[0] if store.calls else []) == bin(size).count("1")


# --- one store call per proof, and errors -------------------------------------------------------


def test_each_proof_makes_exactly_one_store_call():
    for size in (2, 3, 5, 8, 13, 64, 100, 1000, 4096):
        for index in {0, 1, size // 2, size - 1}:
            store = RecordingStore(BIG_NODES)
            inclusion_proof(index, size, store)
            assert len(store.calls) == 1
        for old in {1, size // 3 or 1, size - 1}:
            store = RecordingStore(BIG_NODES)
            consistency_proof(old, size, store)
            assert len(store.calls) == 1
            # keys are unique and sorted, so the caller can hand them straight to one query
            assert store.calls[0] == sorted(set(store.calls[0]))
        store = RecordingStore(BIG_NODES)
        root_at(size, store)
        subtree_root(0, size, store)
        assert len(store.calls) == 2


def test_trivial_proofs_need_no_store_call():
    def boom(keys):
        raise AssertionError("no query needed")

    assert inclusion_proof(0, 1, boom) == []
    assert consistency_proof(7, 7, boom) == []
    assert root_at(0, boom) == EMPTY_ROOT


def test_argument_errors():
    store = RecordingStore(BIG_NODES)
    with pytest.raises(ProofError, match=r"leaf index 5 is not in a tree of size 5"):
        inclusion_proof(5, 5, store)
    with pytest.raises(ProofError, match="empty tree"):
        inclusion_proof(0, 0, store)
    with pytest.raises(ProofError, match="negative"):
        inclusion_proof(-1, 5, store)
    with pytest.raises(ProofError, match="old_size 9 is larger than new_size 8"):
        consistency_proof(9, 8, store)
    with pytest.raises(ProofError, match="empty tree"):
        consistency_proof(0, 8, store)
    with pytest.raises(ProofError, match="start 5 is after end 4"):
        subtree_root(5, 4, store)
    with pytest.raises(TypeError):
        inclusion_proof(1.0, 5, store)
    assert issubclass(ProofError, ValueError)
    assert not store.calls


def test_missing_nodes_are_named():
    nodes = dict(BIG_NODES)
    del nodes[(2, 1)]  # leaves 4..7
    del nodes[(0, 8)]
    with pytest.raises(MissingNodesError) as exc:
        inclusion_proof(0, 9, RecordingStore(nodes))
    assert exc.value.missing == [(0, 8), (2, 1)]
    assert "(level=0, index=8)" in str(exc.value) and "(level=2, index=1)" in str(exc.value)
    assert isinstance(exc.value, ProofError)
    with pytest.raises(ProofError, match=r"\(level=2, index=1\)"):
        consistency_proof(3, 8, RecordingStore(nodes))
    with pytest.raises(ProofError, match=r"missing 1 node"):
        root_at(9, RecordingStore(nodes))  # pieces (3, 0) and (0, 8)


def test_store_values_may_be_memoryview_but_must_be_hashes():
    views = RecordingStore({k: memoryview(v) for k, v in BIG_NODES.items()})
    assert inclusion_proof(3, 100, views) == inclusion_proof(3, 100, RecordingStore(BIG_NODES))
    broken = RecordingStore({**BIG_NODES, (0, 1): b"short"})
    with pytest.raises(ProofError, match=r"5 bytes for \(level=0, index=1\)"):
        inclusion_proof(0, 2, broken)


# --- verification edge cases ---------------------------------------------------------------------


def test_verify_consistency_edge_cases():
    r5, r8 = BIG_ROOTS[5], BIG_ROOTS[8]
    assert verify_consistency(5, 5, r5, r5, [])
    assert not verify_consistency(5, 5, r5, r8, [])
    assert not verify_consistency(5, 5, r5, r5, [r5])
    assert verify_consistency(0, 0, EMPTY_ROOT, EMPTY_ROOT, [])
    assert not verify_consistency(0, 8, EMPTY_ROOT, r8, [])  # RFC 9162 defines no proof from 0
    assert not verify_consistency(8, 5, r8, r5, consistency_proof(5, 8, RecordingStore(BIG_NODES)))
    # old_size a power of two: the old root itself is left out of the proof.
    for old in (1, 2, 4, 8, 16, 1024):
        for new in (old + 1, old * 2, old * 2 + 1, 3 * old, BIG):
            proof = consistency_proof(old, new, RecordingStore(BIG_NODES))
            assert BIG_ROOTS[old] not in proof  # the verifier prepends it itself
            assert verify_consistency(old, new, BIG_ROOTS[old], BIG_ROOTS[new], proof)


@pytest.mark.parametrize(
    "args",
    [
        (b"x", 0, 1, [], b"x"),  # wrong hash length
        (LEAVES[0], 0, 1, [], LEAVES[0][:31]),
        (LEAVES[0], 0, 0, [], EMPTY_ROOT),
        (LEAVES[0], 1, 1, [], LEAVES[0]),
        (LEAVES[0], -1, 1, [], LEAVES[0]),
        (LEAVES[0], True, 2, [LEAVES[1]], BIG_ROOTS[2]),
        (LEAVES[0], 0, 1, None, LEAVES[0]),
        (LEAVES[0], 0, 2, [b"y" * 31], BIG_ROOTS[2]),
        (LEAVES[0], 0, 2, "a" * 32, BIG_ROOTS[2]),
        ("0" * 32, 0, 1, [], "0" * 32),
    ],
)
def test_verify_inclusion_rejects_garbage_without_raising(args):
    assert verify_inclusion(*args) is False


@pytest.mark.parametrize(
    "args",
    [
        (1, 2, b"x", BIG_ROOTS[2], [LEAVES[1]]),
        (1, 2, LEAVES[0], BIG_ROOTS[2], [b"z"]),
        (-1, 2, LEAVES[0], BIG_ROOTS[2], [LEAVES[1]]),
        (1, 2, LEAVES[0], BIG_ROOTS[2], None),
        (1, 2, LEAVES[0], BIG_ROOTS[2], [LEAVES[1], LEAVES[1], LEAVES[1]]),
        (1.0, 2, LEAVES[0], BIG_ROOTS[2], [LEAVES[1]]),
        (2, 1, BIG_ROOTS[2], LEAVES[0], []),
    ],
)
def test_verify_consistency_rejects_garbage_without_raising(args):
    assert verify_consistency(*args) is False


def test_single_leaf_tree():
    assert verify_inclusion(LEAVES[0], 0, 1, [], LEAVES[0])
    assert BIG_ROOTS[1] == LEAVES[0]
    assert verify_consistency(1, 2, BIG_ROOTS[1], BIG_ROOTS[2], [LEAVES[1]])


# --- a 10,000,000-leaf tree, without building it ---------------------------------------------


class VirtualTree:
    """A consistent tree of any size where every leaf is `base` except one leaf `odd` at `t`.

    Perfect nodes not covering `t` depend only on their level, so any node is O(level) to make.
    """

    def __init__(self, t: int, odd: bytes, base: bytes = leaf_hash(b"base")):
        self.t, self.odd = t, odd
        self.uniform = [base]
        for _ in range(64):
            self.uniform.append(node_hash(self.uniform[-1], self.uniform[-1]))
        self.calls = 0

    def node(self, level: int, index: int) -> bytes:
        if index != self.t >> level:
            return self.uniform[level]
        if level == 0:
            return self.odd
        return node_hash(self.node(level - 1, 2 * index), self.node(level - 1, 2 * index + 1))

    def __call__(self, keys):
        self.calls += 1
        return {k: self.node(*k) for k in keys}


@pytest.mark.parametrize("t", [0, 1, 4_999_999, 9_999_998, 9_999_999])
def test_ten_million_leaves(t):
    size = 10_000_000
    odd = leaf_hash(b"the entry that matters")
    tree = VirtualTree(t, odd)
    root = root_at(size, tree)
    proof = inclusion_proof(t, size, tree)
    assert tree.calls == 2
    assert len(proof) <= 24
    assert verify_inclusion(odd, t, size, proof, root)
    assert not verify_inclusion(odd, t ^ 1, size, proof, root)
    assert not verify_inclusion(tree.uniform[0], t, size, proof, root)
    for old in (1, 3, 4096, t + 1, size - 1):
        p = consistency_proof(old, size, tree)
        assert verify_consistency(old, size, root_at(old, tree), root, p)
        assert not verify_consistency(old, size, root_at(old, tree), flip(root), p)


def test_module_imports_no_django():
    code = "import sys, careaccess.core.audit.merkle; assert 'django' not in sys.modules, 'django imported'"
    src_dir = pathlib.Path(merkle.__file__).resolve().parents[3]
    env = {**os.environ, "PYTHONPATH": str(src_dir)}
    subprocess.run([sys.executable, "-c", code], check=True, env=env)
