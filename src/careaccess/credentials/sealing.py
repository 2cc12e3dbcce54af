"""TOTP secrets sealed at rest. The server must read a secret back to check a code, so it cannot
be hashed; it is kept encrypted with Fernet (AES-128-CBC and HMAC-SHA256, from `cryptography`).

The keys are a file under the data folder (`CAREACCESS_TOTP_KEYS`, default `var/keys/totp.keys`,
never in the repository): one Fernet key a line, newest first, mode 0600, made with one key the
first time it is needed. New secrets are sealed with the newest key; any key in the file opens
them (MultiFernet), so `careaccess authenticators rotate-key` adds a key, reseals every stored
secret with it, and may then retire the older keys. A database copied without this file holds
no usable secrets.
"""

from __future__ import annotations

import os
import tempfile
import threading
from pathlib import Path

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from django.conf import settings

_lock = threading.Lock()
_cache: dict[str, tuple[tuple, MultiFernet]] = {}


class SealError(RuntimeError):
    """A sealed secret that none of the keys opens (the key file was replaced or lost)."""


def keys_path() -> Path:
    return Path(settings.CAREACCESS_TOTP_KEYS)


def _write_keys(path: Path, keys: list[bytes], *, replace: bool) -> None:
    """Write a private temp file, then move (or, when creating, link) it into place: nobody reads
    a half-written file, and of two processes creating the file at once one wins."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".totp-keys-")
    try:
        os.fchmod(fd, 0o600)
        with os.fdopen(fd, "wb") as handle:
            handle.write(b"".join(k + b"\n" for k in keys))
            handle.flush()
            os.fsync(handle.fileno())
        if replace:
            os.replace(tmp, path)
            return
        try:
            os.link(tmp, path)
        except FileExistsError:
            pass
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def read_keys() -> list[bytes]:
    path = keys_path()
    if not path.exists():
        _write_keys(path, [Fernet.generate_key()], replace=False)
    keys = [line.strip() for line in path.read_bytes().splitlines() if line.strip()]
    if not keys:
        raise SealError(f"{path} holds no key; restore it from backup")
    return keys


def _stamp(path: Path) -> tuple:
    """Changes whenever the file is rewritten (a rotation in another process included)."""
    status = path.stat()
    return status.st_ino, status.st_mtime_ns, status.st_size


def _fernet() -> MultiFernet:
    path = keys_path()
    with _lock:
        cached = _cache.get(str(path))
        if cached is not None and path.exists() and cached[0] == _stamp(path):
            return cached[1]
        fernet = MultiFernet([Fernet(k) for k in read_keys()])
        _cache[str(path)] = (_stamp(path), fernet)
        return fernet


def seal(secret: str) -> str:
    return _fernet().encrypt(secret.encode()).decode("ascii")


def unseal(sealed: str) -> str:
    try:
        return _fernet().decrypt(sealed.encode("ascii")).decode()
    except InvalidToken:
        raise SealError(f"a TOTP secret cannot be opened with the keys in {keys_path()}; restore the key file "
                        "from backup, or have the person set up their authenticator again") from None


def add_key() -> None:
    """Put a new key first: new secrets are sealed with it, old ones still open."""
    _write_keys(keys_path(), [Fernet.generate_key(), *read_keys()], replace=True)


def reseal(sealed: str) -> str:
    """The same secret sealed with the newest key."""
    try:
        return _fernet().rotate(sealed.encode("ascii")).decode("ascii")
    except InvalidToken:
        raise SealError(f"a TOTP secret cannot be opened with the keys in {keys_path()}") from None


def retire_old_keys() -> int:
    """Keep only the newest key (after every secret was resealed with it); returns how many went."""
    keys = read_keys()
    _write_keys(keys_path(), keys[:1], replace=True)
    return len(keys) - 1
