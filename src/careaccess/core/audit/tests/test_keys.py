"""Rotating the checkpoint signing key (rule PP9): a new key signs from the rotation on, which is
itself an audited change with a checkpoint signed at once; checkpoints signed by a retired key
still verify; a key that is not listed, or a checkpoint made outside its key's time, is refused by
verify, by the offline checks and by the auditor's script of docs/audit-ledger.md (run as written).
"""

from __future__ import annotations

import base64
import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from django.db import DatabaseError, connection, transaction

from careaccess.core.audit import checkpoints, offline, proofs
from careaccess.core.audit import verify as v
from careaccess.core.audit.models import CheckpointKey, Entry, Head
from careaccess.core.context import Actor

from .helpers import append, ensure, sql
from .test_cli import fails, run
from .test_proofs import resign

pytestmark = pytest.mark.django_db

ACTOR = Actor.system("test")
DOC = Path(__file__).resolve().parents[5] / "docs" / "audit-ledger.md"


@pytest.fixture
def key_file(settings, tmp_path):
    """The session's ledger key, copied: a rotation here replaces the copy, never the real key file
    (the database's side of it is rolled back with the test)."""
    checkpoints.signing_key()  # made if this is the session's first use
    real = checkpoints.key_path()
    copy = tmp_path / "keys" / "ledger-ed25519.pem"
    copy.parent.mkdir(mode=0o700)
    shutil.copy(real, copy)
    settings.CAREACCESS_LEDGER_KEY = copy
    return copy


def committed(capture, do):
    """`do()`, then what waits for its commit (the rotation's key file move: the test's own
    transaction never commits)."""
    with capture(execute=True):
        return do()


@pytest.fixture
def rotated(key_file, django_capture_on_commit_callbacks):
    """A ledger with a checkpoint by the first key, then a rotation, then one more entry."""
    ensure(4)
    first_key = checkpoints.signing_key()
    old_cp = checkpoints.make_checkpoint()
    retired, current, new_cp = committed(django_capture_on_commit_callbacks, lambda: checkpoints.rotate_key(ACTOR))
    append(3, tag="after-rotation")
    return {"first_key": first_key, "old": old_cp, "new": new_cp, "retired": retired, "current": current}


def _keys_text() -> str:
    return json.dumps(checkpoints.published_keys())


def ledger_size() -> int:
    return Head.objects.size()


# --- the rotation ------------------------------------------------------------------------------


def test_a_rotation_signs_with_the_new_key_at_once_and_is_audited(rotated, key_file):  # rule PP9
    retired, current, new_cp = rotated["retired"], rotated["current"], rotated["new"]
    assert retired != current and new_cp.key_id == current and checkpoints.key_id() == current
    # The rotation's entry is in the ledger, and the new key's first checkpoint covers it.
    entry = Entry.objects.get(action="audit.key_rotated", target_id=current)
    assert entry.index == new_cp.tree_size - 1 and entry.actor_kind == "system"
    assert json.loads(entry.before) == {"key_id": retired}
    assert json.loads(entry.after)["key_id"] == current
    # The key list: both keys, the retired one valid until the new one took over, endorsed.
    keys = checkpoints.published_keys()["keys"]
    assert [k["key_id"] for k in keys][-2:] == [retired, current]
    assert keys[-2]["valid_until"] == keys[-1]["valid_from"] <= checkpoints.made_at_text(new_cp)
    assert keys[-1]["endorsed_by"] == retired and keys[-1]["valid_until"] is None
    # Kept under var/ beside the key file (what verify trusts), and the retired private key is gone.
    assert json.loads((key_file.parent / "ledger-keys.json").read_text()) == checkpoints.published_keys()
    assert sorted(p.name for p in key_file.parent.iterdir()) == ["ledger-ed25519.pem", "ledger-keys.json"]
    # New checkpoints use the new key; old and new checkpoints all verify.
    assert checkpoints.make_checkpoint().key_id == current
    result = v.verify()
    assert result.ok, result.problem
    assert result.checkpoints_checked >= 3


def test_the_cli_rotates_and_lists_both_keys(key_file, django_capture_on_commit_callbacks):
    ensure(2)
    checkpoints.make_checkpoint()
    before = checkpoints.key_id()
    out, err = committed(django_capture_on_commit_callbacks, lambda: run("rotate-key"))
    doc = json.loads(out)
    assert doc["retired_key_id"] == before and doc["checkpoint"]["key_id"] == doc["key_id"] != before
    assert "rotated" in err
    listed = json.loads(run("public-key")[0])
    assert [k["key_id"] for k in listed["keys"]][-2:] == [before, doc["key_id"]]
    assert run("public-key", "--pem")[0].strip() == checkpoints.public_key_pem().strip()
    assert "intact" in run("verify")[0]


def test_the_api_publishes_the_key_list(rotated):
    from careaccess.api.testing import client_for
    from careaccess.directory import testing as build

    build.staff_catalogue()
    clerk = build.staff(build.organisation("Y09999"), name="Clerk")  # no audit right needed: public keys
    answer = client_for(actor=clerk).get("/audit/keys")
    assert answer.status_code == 200
    assert answer.json() == checkpoints.published_keys()


def test_a_failed_rotation_changes_nothing(key_file, monkeypatch):
    ensure(2)
    checkpoints.make_checkpoint()
    before, rows, size = checkpoints.key_id(), CheckpointKey.objects.count(), ledger_size()

    def broken(*args, **kwargs):
        raise RuntimeError("disk full")

    monkeypatch.setattr(checkpoints, "_make", broken)
    with pytest.raises(RuntimeError, match="disk full"):
        checkpoints.rotate_key(ACTOR)
    assert checkpoints.key_id() == before and CheckpointKey.objects.count() == rows and ledger_size() == size
    assert not Entry.objects.filter(action="audit.key_rotated", before__contains=before).exists()
    assert sorted(p.name for p in key_file.parent.iterdir()) == ["ledger-ed25519.pem"]  # no new key left behind


def test_an_interrupted_rotation_is_finished_by_the_next_checkpoint(key_file):
    ensure(2)
    checkpoints.make_checkpoint()
    _, current, _ = checkpoints.rotate_key(ACTOR)  # as if stopped right after its commit
    assert checkpoints.key_id() != current  # the old key is still in the file
    assert checkpoints.make_checkpoint().key_id == current
    assert checkpoints.key_id() == current and (key_file.parent / "ledger-keys.json").exists()
    assert v.verify().ok


def test_a_key_file_that_cannot_be_written_after_the_commit_keeps_the_new_key(
        key_file, monkeypatch, django_capture_on_commit_callbacks):
    # rule PP9: the rotation committed, so its new private key is the ledger's current one; a key
    # list that cannot be written then must not delete it: the next checkpoint finishes the move
    ensure(2)
    checkpoints.make_checkpoint()
    real = checkpoints._write_key_list

    def disk_full():
        raise OSError("disk full")

    monkeypatch.setattr(checkpoints, "_write_key_list", disk_full)
    with django_capture_on_commit_callbacks(execute=True):
        _, current, _ = checkpoints.rotate_key(ACTOR)  # the failure is logged, not raised: it committed
    assert checkpoints._staged_path(current).exists() and checkpoints.key_id() != current
    monkeypatch.setattr(checkpoints, "_write_key_list", real)
    assert checkpoints.make_checkpoint().key_id == current == checkpoints.key_id()
    assert v.verify().ok


def test_a_key_file_that_is_not_the_current_key_signs_nothing(rotated, key_file):
    from cryptography.hazmat.primitives import serialization

    key_file.write_bytes(rotated["first_key"].private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
    with pytest.raises(checkpoints.LedgerKeyError, match="current checkpoint key"):
        checkpoints.make_checkpoint()
    err = fails("checkpoint")
    assert err.returncode == 1


def test_the_key_list_is_append_only(rotated):  # rule PP9
    for statement in ("UPDATE audit_checkpoint_key SET valid_from = NULL", "DELETE FROM audit_checkpoint_key"):
        with pytest.raises(DatabaseError, match="append-only"):
            with transaction.atomic():
                sql(statement)


# --- verify: any listed key, in its time; nothing else ----------------------------------------


def _insert_checkpoint(like, key: Ed25519PrivateKey) -> None:
    """A checkpoint row like `like` (same size, root and time) signed by `key`, as a forger would add it."""
    message = checkpoints.checkpoint_message(like.tree_size, like.root_hash, checkpoints.made_at_text(like))
    sql("INSERT INTO audit_checkpoint (tree_size, root_hash, made_at, key_id, signature) VALUES (%s, %s, %s, %s, %s)",
        [like.tree_size, like.root_hash, connection.ops.adapt_datetimefield_value(like.made_at),
         checkpoints.key_id_of(key.public_key()), base64.b64encode(key.sign(message)).decode()])


def test_verify_refuses_a_checkpoint_by_an_unknown_key(rotated):
    _insert_checkpoint(rotated["new"], Ed25519PrivateKey.generate())
    result = v.verify()
    assert result.problem.kind == v.SIGNATURE and "not one of this ledger's keys" in result.problem.message
    err = fails("verify")
    assert err.returncode == 1 and "foreign or forged" in str(err)


def test_verify_refuses_a_retired_keys_checkpoint_made_after_it_retired(rotated):
    # The retired key's private half, had it leaked: a checkpoint it signs now is refused.
    _insert_checkpoint(rotated["new"], rotated["first_key"])
    result = v.verify()
    assert result.problem.kind == v.SIGNATURE and "signed checkpoints only" in result.problem.message


def test_verify_refuses_a_key_list_altered_in_the_database(rotated):
    intruder = Ed25519PrivateKey.generate()
    CheckpointKey.objects.create(key_id=checkpoints.key_id_of(intruder.public_key()),
                                 public_key=checkpoints.public_pem_of(intruder.public_key()),
                                 valid_from=rotated["new"].made_at, endorsement="")
    result = v.verify()
    assert result.problem.kind == v.SIGNATURE and "not the one kept on this machine" in result.problem.message


def test_verify_with_a_given_key_list_or_one_key(rotated, tmp_path):
    assert v.verify(public_key_pem=_keys_text()).ok
    only_new = v.verify(public_key_pem=checkpoints.public_key_pem())  # the new key alone: old checkpoints foreign
    assert only_new.problem.kind == v.SIGNATURE
    keys = tmp_path / "keys.json"
    keys.write_text(_keys_text())
    assert "intact" in run("verify", "--public-key", str(keys))[0]
    bad = tmp_path / "bad.json"
    bad.write_text('{"format": "careaccess-checkpoint-keys-v1", "keys": []}')
    assert fails("verify", "--public-key", str(bad)).returncode == 2


# --- offline: the auditor's side ------------------------------------------------------------------


def test_offline_checks_accept_either_key_from_the_list_and_refuse_the_unlisted(rotated):
    keys = _keys_text()
    held = checkpoints.export(rotated["old"])  # signed by the retired key
    new_proof = proofs.inclusion(1)  # against the latest checkpoint, by the new key
    old_proof = proofs.inclusion(1, checkpoint_id=rotated["old"].id)
    crossing = proofs.consistency(rotated["old"].id, rotated["new"].id)
    assert offline.check_inclusion(new_proof, trusted=held, public_key_pem=keys)["key_id"] == rotated["current"]
    assert offline.check_inclusion(old_proof, trusted=held, public_key_pem=keys)["key_id"] == rotated["retired"]
    moved = offline.check_consistency(crossing, trusted=held, public_key_pem=keys)
    assert moved["new_size"] == rotated["new"].tree_size
    # Holding only the old key, the new key is foreign until the auditor takes the new list.
    with pytest.raises(offline.VerificationFailed, match="foreign key"):
        offline.check_consistency(crossing, trusted=held)
    # A key that is in no list: refused, whatever the proof carries.
    forged = dict(new_proof, checkpoint=resign(new_proof["checkpoint"], Ed25519PrivateKey.generate()))
    with pytest.raises(offline.VerificationFailed, match="foreign key"):
        offline.check_inclusion(forged, trusted=held, public_key_pem=keys)


def test_offline_refuses_a_checkpoint_made_outside_its_keys_time(rotated):
    cp = checkpoints.export(rotated["new"])
    late = resign(cp, rotated["first_key"])  # the retired key, after it retired
    with pytest.raises(offline.VerificationFailed, match="signed checkpoints only from the start until"):
        offline.check_signature(offline.parse_checkpoint(late), offline.load_keys(_keys_text()))


def test_a_key_list_is_checked_link_by_link(rotated):
    good = checkpoints.published_keys()
    assert set(offline.load_keys(good)) >= {rotated["retired"], rotated["current"]}

    def altered(change):
        doc = json.loads(json.dumps(good))
        change(doc["keys"])
        return doc

    intruder = Ed25519PrivateKey.generate().public_key()
    swapped = altered(lambda ks: ks[-1].update(public_key=checkpoints.public_pem_of(intruder),
                                               key_id=checkpoints.key_id_of(intruder)))
    with pytest.raises(offline.VerificationFailed, match="not endorsed by the key before it"):
        offline.load_keys(swapped)
    stretched = altered(lambda ks: ks[-2].update(valid_until=None))
    with pytest.raises(offline.VerificationFailed, match="the list was altered"):
        offline.load_keys(stretched)
    mislabelled = altered(lambda ks: ks[-1].update(key_id="ab" * 32))
    with pytest.raises(offline.VerificationFailed, match="its public key's id"):
        offline.load_keys(mislabelled)
    with pytest.raises(offline.MalformedInput):
        offline.load_keys({"format": "careaccess-checkpoint-keys-v1", "keys": "none"})


def test_check_keys_accepts_a_list_that_extends_yours_and_refuses_one_that_does_not(rotated, tmp_path):
    full = checkpoints.published_keys()
    before_rotation = {"format": full["format"], "keys": [dict(k) for k in full["keys"][:-1]]}
    before_rotation["keys"][-1]["valid_until"] = None  # what the auditor held: the old key was current
    held, new = tmp_path / "held.json", tmp_path / "new.json"
    held.write_text(json.dumps(before_rotation))
    new.write_text(json.dumps(full))
    summary = offline.check_keys(full, trusted=json.dumps(before_rotation))
    assert summary["added"] == [rotated["current"]]
    out, _ = run("check-keys", str(new), "--trusted", str(held))
    assert "key list OK" in out and json.loads(out[out.index("{"):])["keys"][-1]["key_id"] == rotated["current"]
    # One PEM key held (the old one) works as well.
    pem = tmp_path / "old.pem"
    pem.write_text(full["keys"][-2]["public_key"])
    assert "key list OK" in run("check-keys", str(new), "--trusted", str(pem))[0]
    # A list that does not contain the key you hold (another ledger, or keys replaced): exit 1.
    stranger = Ed25519PrivateKey.generate().public_key()
    foreign = tmp_path / "foreign.pem"
    foreign.write_text(checkpoints.public_pem_of(stranger))
    err = fails("check-keys", str(new), "--trusted", str(foreign))
    assert err.returncode == 1 and "does not contain the key you hold" in str(err)
    junk = tmp_path / "junk.json"
    junk.write_text("[]")
    assert fails("check-keys", str(junk), "--trusted", str(held)).returncode == 2


def test_the_documented_script_accepts_both_keys_and_refuses_a_foreign_one(rotated, tmp_path):
    """docs/audit-ledger.md's check.py, run exactly as printed, with the key list the auditor holds."""
    script = re.search(r"```python\n(.*?)```", DOC.read_text(encoding="utf-8"), re.S).group(1)
    check = tmp_path / "check.py"
    check.write_text(script)
    files = {
        "held": checkpoints.export(rotated["old"]),  # by the retired key
        "keys": checkpoints.published_keys(),
        "new_proof": proofs.inclusion(2),  # by the new key
        "old_proof": proofs.inclusion(2, checkpoint_id=rotated["old"].id),  # by the retired key
        "crossing": proofs.consistency(rotated["old"].id, rotated["new"].id),
    }
    forged = dict(files["new_proof"], checkpoint=resign(files["new_proof"]["checkpoint"], Ed25519PrivateKey.generate()))
    files["forged"] = forged
    paths = {}
    for name, doc in files.items():
        paths[name] = tmp_path / f"{name}.json"
        paths[name].write_text(json.dumps(doc))

    def script_run(proof, *extra):
        return subprocess.run([sys.executable, str(check), str(paths[proof]), str(paths["held"]), *extra],
                              capture_output=True, text=True, timeout=60)

    for proof in ("new_proof", "old_proof", "crossing"):
        done = script_run(proof, str(paths["keys"]))
        assert done.returncode == 0 and done.stdout.strip() == "OK", (proof, done.stderr)
    foreign = script_run("forged", str(paths["keys"]))
    assert foreign.returncode != 0 and "KeyError" in foreign.stderr
    # Without the key list, only the held checkpoint's (retired) key: the new key is foreign.
    assert script_run("old_proof").returncode == 0
    assert "KeyError" in script_run("crossing").stderr


def test_prove_and_consistency_refuse_a_checkpoint_by_an_unknown_key(rotated):
    _insert_checkpoint(rotated["new"], Ed25519PrivateKey.generate())
    forged_id = checkpoints.latest_checkpoint().id
    old_id, new_id = str(rotated["old"].id), str(rotated["new"].id)
    for args in (("prove", "1", "--checkpoint", str(forged_id)), ("consistency", old_id, str(forged_id))):
        err = fails(*args)
        assert err.returncode == 1 and "not one of the ledger's keys" in str(err)
    # Checkpoints by either listed key are proved as before.
    assert json.loads(run("prove", "1", "--checkpoint", old_id)[0])["checkpoint"]["key_id"] == rotated["retired"]
    assert json.loads(run("consistency", old_id, new_id)[0])["new"]["key_id"] == rotated["current"]
