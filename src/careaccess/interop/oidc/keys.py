"""The provider's ID-token signing keys (ES256, P-256), as PEM files under VAR_DIR/oidc, mode 0600.

`current.pem` signs; `previous.pem`, the key `rotate()` replaced, is still published in the JWKS so
that ID tokens signed just before a rotation still verify. A rotation drops the key before that.

Parsed keys are kept in memory, keyed by the file's identity (device, inode, modification time):
a rotation replaces the file (a new inode), so every process, the one that rotated or not, reads
the new key on its next use, and a request costs one stat() instead of reading and parsing a PEM."""

from __future__ import annotations

import os
from pathlib import Path

from django.conf import settings
from joserfc.jwk import ECKey

ALG = "ES256"


def key_dir() -> Path:
    path = Path(getattr(settings, "CAREACCESS_OIDC_KEY_DIR", settings.VAR_DIR / "oidc"))
    path.mkdir(parents=True, exist_ok=True, mode=0o700)
    return path


def _write_private(path: Path, pem: bytes) -> None:
    tmp = path.with_suffix(f".tmp{os.getpid()}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(pem)
    os.chmod(tmp, 0o600)
    os.replace(tmp, path)


def _new_pem() -> bytes:
    return ECKey.generate_key("P-256", private=True).as_pem(private=True)


_loaded: dict[Path, tuple[tuple[int, int, int], ECKey]] = {}


def _load(path: Path) -> ECKey:
    stat = path.stat()
    identity = (stat.st_dev, stat.st_ino, stat.st_mtime_ns)
    cached = _loaded.get(path)
    if cached is not None and cached[0] == identity:
        return cached[1]
    pem = path.read_bytes()
    key = ECKey.import_key(pem)
    key = ECKey.import_key(pem, {"kid": key.thumbprint(), "use": "sig", "alg": ALG})
    _loaded[path] = (identity, key)
    return key


def signing_key() -> ECKey:
    """The current private key (made on first use)."""
    path = key_dir() / "current.pem"
    if not path.exists():
        tmp = path.with_suffix(f".new{os.getpid()}")
        _write_private(tmp, _new_pem())
        try:
            os.link(tmp, path)  # the first writer wins; a concurrent one uses its key
        except FileExistsError:
            pass
        tmp.unlink()
    return _load(path)


def jwks() -> dict:
    keys = [signing_key()]
    previous = key_dir() / "previous.pem"
    if previous.exists():
        keys.append(_load(previous))
    return {"keys": [k.as_dict(private=False) for k in keys]}


def rotate() -> tuple[str, str]:
    """Make a new signing key; the old one stays published as the previous key. Returns (old kid,
    new kid). Called by services.rotate_signing_key, which audits it."""
    old = signing_key()
    directory = key_dir()
    _write_private(directory / "previous.pem", (directory / "current.pem").read_bytes())
    _write_private(directory / "current.pem", _new_pem())
    return old.kid, signing_key().kid
