"""`careaccess audit ...`: output and exit codes (0 ok, 1 verification failed, 2 bad input)."""

from __future__ import annotations

import base64
import io
import json
import os
import subprocess
import sys

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from django.core.management import call_command
from django.core.management.base import CommandError

from careaccess.core.audit import checkpoints
from careaccess.core.audit.management.commands import audit as audit_command

from .helpers import append, drop_triggers, ensure, q, size, sql
from .test_proofs import resign

pytestmark = pytest.mark.django_db


def run(*args) -> tuple[str, str]:
    out, err = io.StringIO(), io.StringIO()
    call_command("audit", *args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def fails(*args) -> CommandError:
    with pytest.raises(CommandError) as info:
        run(*args)
    return info.value


def cli(*args, stdin: str | None = None) -> subprocess.CompletedProcess:
    """The real command line, in a child process (offline subcommands need no database)."""
    return subprocess.run(
        [sys.executable, "-m", "careaccess.cli", "audit", *args],
        input=stdin,
        capture_output=True,
        text=True,
        env={**os.environ, "DJANGO_SETTINGS_MODULE": "careaccess.settings"},
        timeout=120,
    )


# --- against the database ------------------------------------------------------------------


def test_verify_exit_0_on_an_intact_ledger():  # rule PP9
    ensure(5)
    out, _ = run("verify")
    assert "audit ledger intact" in out and f"{size()} entries" in out
    data = json.loads(run("verify", "--json")[0])
    assert data["ok"] is True and data["size"] == size()


def test_verify_exit_1_names_the_first_bad_entry():  # rule PP9
    ensure(8)
    drop_triggers()
    sql(f"DELETE FROM audit_entry WHERE {q('index')} = %s", [4])
    err = fails("verify")
    assert err.returncode == 1
    assert "TAMPERED at entry 4" in str(err) and "removed" in str(err)


def test_verify_shows_a_progress_bar_on_big_ledgers(monkeypatch):
    ensure(5)
    monkeypatch.setattr(audit_command, "PROGRESS_FROM", 1)
    out, _ = run("verify", "--batch", "2")
    assert "intact" in out


@pytest.mark.parametrize("option", ["--workers", "--batch"])
def test_verify_refuses_fewer_than_one_worker_or_entry_per_batch(option):
    err = fails("verify", option, "0")
    assert err.returncode == 2 and f"{option} must be 1 or more" in str(err)


def test_verify_with_workers_names_how_many_checked():
    ensure(5)
    data = json.loads(run("verify", "--json", "--workers", "2")[0])
    assert data["ok"] is True and data["workers"] == 1  # inside the test's transaction: this process alone


def test_checkpoint_prints_the_signed_checkpoint():
    ensure(2)
    cp = json.loads(run("checkpoint")[0])
    assert cp["tree_size"] == size()
    assert set(cp) >= {"id", "tree_size", "root_hash", "made_at", "key_id", "signature", "public_key"}
    assert len(base64.b64decode(cp["signature"])) == 64


def test_prove_prints_a_complete_proof():
    ensure(6)
    run("checkpoint")
    doc = json.loads(run("prove", "3")[0])
    assert doc["leaf_index"] == 3 and doc["entry"]["index"] == 3
    assert doc["tree_size"] == size()
    assert all(len(h) == 64 for h in doc["audit_path"])
    assert doc["checkpoint"]["public_key"].startswith("-----BEGIN PUBLIC KEY-----")
    assert json.loads(base64.b64decode(doc["leaf_bytes"]))[0] == "careaccess-audit-v1"


def test_prove_and_consistency_bad_input_exit_2():
    ensure(2)
    cp = json.loads(run("checkpoint")[0])
    assert fails("prove", str(size() + 100)).returncode == 2  # no such entry
    assert fails("prove", "abc").returncode == 2
    assert fails("prove", "0", "--checkpoint", "999999999").returncode == 2
    [entry] = append(1, tag="cli-uncovered")
    err = fails("prove", str(entry.index), "--checkpoint", str(cp["id"]))
    assert err.returncode == 2 and "not yet covered" in str(err)
    newer = json.loads(run("checkpoint")[0])
    err = fails("consistency", str(newer["id"]), str(cp["id"]))
    assert err.returncode == 2 and "older one first" in str(err)
    assert fails("consistency", "999999999").returncode == 2


def test_consistency_by_id_and_by_size():
    ensure(3)
    old = json.loads(run("checkpoint")[0])
    append(4, tag="cli-consistency")
    new = json.loads(run("checkpoint")[0])
    by_id = json.loads(run("consistency", str(old["id"]), str(new["id"]))[0])
    by_size = json.loads(run("consistency", str(old["tree_size"]), str(new["tree_size"]), "--by-size")[0])
    assert by_id["proof"] == by_size["proof"] and by_id["proof"]
    assert by_id["old"]["tree_size"] == old["tree_size"] and by_id["new"]["tree_size"] == new["tree_size"]


def test_public_key_lists_the_keys_and_the_current_one_as_pem():
    keys = json.loads(run("public-key")[0])
    assert keys["format"] == "careaccess-checkpoint-keys-v1"
    assert keys["keys"][-1]["key_id"] == checkpoints.key_id() and keys["keys"][-1]["valid_until"] is None
    out, _ = run("public-key", "--pem")
    assert out.strip() == checkpoints.public_key_pem().strip()


# --- offline checks ----------------------------------------------------------------------------


@pytest.fixture
def files(tmp_path):
    """An auditor's folder: a held checkpoint, a newer one, proofs, and the public key."""
    ensure(5)
    held = json.loads(run("checkpoint")[0])
    append(5, tag="cli-offline")
    newer = json.loads(run("checkpoint")[0])
    paths = {
        "held": tmp_path / "held.json",
        "newer": tmp_path / "newer.json",
        "proof": tmp_path / "proof.json",
        "old_proof": tmp_path / "old-proof.json",
        "consistency": tmp_path / "consistency.json",
        "key": tmp_path / "ledger.pub",
    }
    paths["held"].write_text(json.dumps(held))
    paths["newer"].write_text(json.dumps(newer))
    paths["proof"].write_text(run("prove", "2")[0])
    paths["old_proof"].write_text(run("prove", "2", "--checkpoint", str(held["id"]))[0])
    paths["consistency"].write_text(run("consistency", str(held["id"]), str(newer["id"]))[0])
    paths["key"].write_text(run("public-key")[0])
    return {k: str(v) for k, v in paths.items()}


def _edit(path: str, change) -> str:
    doc = json.loads(open(path).read())
    change(doc)
    out = path + ".edited.json"
    open(out, "w").write(json.dumps(doc))
    return out


def test_check_proof_ok(files):
    out, err = run("check-proof", files["proof"], "--trusted", files["held"])
    assert "proof OK" in out and not err
    out, _ = run("check-proof", files["proof"], "--public-key", files["key"])
    assert "proof OK" in out
    out, err = run("check-proof", files["proof"])
    assert "proof OK" in out and "warning" in err  # no key pinned: said so


def test_check_proof_refuses_forgeries(files):  # rule PP9
    forged = _edit(files["proof"], lambda d: d["checkpoint"].update(root_hash="00" * 32))
    err = fails("check-proof", forged, "--trusted", files["held"])
    assert err.returncode == 1 and "forged" in str(err)

    def foreign(d):
        d["checkpoint"] = resign(d["checkpoint"], Ed25519PrivateKey.generate())

    err = fails("check-proof", _edit(files["proof"], foreign), "--public-key", files["key"])
    assert err.returncode == 1 and "foreign key" in str(err)

    def other_entry(d):
        d["leaf_index"] = d["leaf_index"] + 1

    assert fails("check-proof", _edit(files["proof"], other_entry), "--trusted", files["held"]).returncode == 1


def test_check_proof_refuses_an_older_checkpoint_than_the_one_held(files):
    err = fails("check-proof", files["old_proof"], "--trusted", files["newer"])
    assert err.returncode == 1 and "older than the checkpoint you hold" in str(err)


def test_check_proof_malformed_input_exit_2(files, tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text("{nope")
    assert fails("check-proof", str(bad)).returncode == 2
    assert fails("check-proof", str(tmp_path / "missing.json")).returncode == 2
    assert fails("check-proof", files["consistency"]).returncode == 2  # the wrong kind of file


def test_check_consistency(files):  # rule PP9
    out, _ = run("check-consistency", files["consistency"], "--trusted", files["held"])
    assert "consistency OK" in out
    held_next = json.loads(out[out.index("{"):])
    assert held_next["tree_size"] == json.loads(open(files["newer"]).read())["tree_size"]
    # Holding the newer one, the same proof would move the auditor nowhere new: starts elsewhere.
    assert fails("check-consistency", files["consistency"], "--trusted", files["newer"]).returncode in (1, 2)

    def tamper(d):
        d["proof"][0] = "33" * 32

    err = fails("check-consistency", _edit(files["consistency"], tamper), "--trusted", files["held"])
    assert err.returncode == 1 and "REFUSED" in str(err)

    def backwards(d):
        d["new"], d["old"] = d["old"], d["new"]

    err = fails("check-consistency", _edit(files["consistency"], backwards), "--trusted", files["newer"])
    assert err.returncode == 1 and "older than the checkpoint you hold" in str(err)


def test_offline_exit_codes_from_the_real_command_line(files, tmp_path):
    """check-proof/check-consistency run without any database: a child process, real exit codes."""
    ok = cli("check-proof", files["proof"], "--trusted", files["held"])
    assert ok.returncode == 0, ok.stderr
    forged = _edit(files["proof"], lambda d: d["checkpoint"].update(signature=base64.b64encode(b"\0" * 64).decode()))
    failed = cli("check-proof", forged, "--trusted", files["held"])
    assert failed.returncode == 1 and "forged" in failed.stderr
    bad = tmp_path / "bad.json"
    bad.write_text("[]")
    assert cli("check-proof", str(bad)).returncode == 2
    assert cli("check-consistency", files["consistency"], "--trusted", files["held"]).returncode == 0
    assert cli("check-consistency", files["consistency"], "--trusted", str(bad)).returncode == 2


def test_verify_with_the_public_key_option(tmp_path):
    ensure(3)
    run("checkpoint")
    key = tmp_path / "ledger.pub"
    key.write_text(run("public-key")[0])
    out, _ = run("verify", "--public-key", str(key))
    assert "intact" in out
