"""`careaccess help` lists what an operator uses; Django's commands that would change the directory
behind the audit ledger's back (flush above all: rules PP8, PP9) are refused."""

import os
import subprocess
import sys


def run(*args, tmp_path):
    env = {**os.environ, "CAREACCESS_VAR": str(tmp_path), "DJANGO_SETTINGS_MODULE": "careaccess.settings"}
    env.pop("DATABASE_URL", None)
    return subprocess.run([sys.executable, "-m", "careaccess.cli", *args], capture_output=True, text=True, env=env,
                          timeout=120)


def test_help_lists_the_operators_commands_and_not_the_refused_or_developer_ones(tmp_path):
    out = run("--help", tmp_path=tmp_path).stdout
    lines = {line.strip() for line in out.splitlines()}
    assert {"serve", "migrate", "demo", "pki", "audit", "worker"} <= lines
    assert not lines & {"flush", "sqlflush", "createsuperuser", "changepassword", "loaddata", "startapp",
                        "makemigrations", "[auth]", "[contenttypes]"}
    assert "Refused: changepassword, createsuperuser, flush" in out


def test_flush_is_refused_with_the_reason_and_deletes_nothing(tmp_path):
    assert run("migrate", "--no-input", "-v", "0", tmp_path=tmp_path).returncode == 0
    database = tmp_path / "careaccess.sqlite3"
    size = database.stat().st_size
    for args in (("flush", "--no-input"), ("help", "flush"), ("createsuperuser",)):
        result = run(*args, tmp_path=tmp_path)
        assert result.returncode == 2 and "careaccess refuses" in result.stderr, args
    assert "PP8" in run("flush", tmp_path=tmp_path).stderr
    assert database.stat().st_size == size
    assert run("help", "serve", tmp_path=tmp_path).returncode == 0  # help on a command still works
