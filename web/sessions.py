"""A browser's session: the signed-in user's name and an expiry in a cookie signed with HMAC.

Nothing is stored on the server, so sessions survive a restart as long as the signing key
does (kept in LABELER_HOME, readable by its owner only) and any number of `serve` processes
sharing that home accept each other's cookies."""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import secrets
import time
from pathlib import Path

COOKIE = "labeler_session"
LIFETIME = 12 * 3600  # seconds a sign-in lasts


def signing_key(home: Path) -> bytes:
    """The key in `home`/web-session-key, made on first use (mode 0600)."""
    path = home / "web-session-key"
    try:
        return path.read_bytes()
    except FileNotFoundError:
        pass
    home.mkdir(parents=True, exist_ok=True)
    key = secrets.token_bytes(32)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:  # another server made it first: use theirs
        return path.read_bytes()
    with os.fdopen(fd, "wb") as fh:
        fh.write(key)
    return key


def _mac(key: bytes, payload: str) -> str:
    digest = hmac.new(key, payload.encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).decode().rstrip("=")


def issue(key: bytes, user: str, now: float | None = None) -> str:
    """A cookie value for `user`, valid for LIFETIME seconds."""
    name = base64.urlsafe_b64encode(user.encode()).decode().rstrip("=")
    payload = f"{name}.{int((now or time.time()) + LIFETIME)}"
    return f"{payload}.{_mac(key, payload)}"


def verify(key: bytes, value: str | None, now: float | None = None) -> str | None:
    """The user a cookie value names, if it is signed with `key` and not expired."""
    if not value or value.count(".") != 2:
        return None
    name, expiry, mac = value.split(".")
    if not hmac.compare_digest(mac, _mac(key, f"{name}.{expiry}")):
        return None
    if not expiry.isdigit() or int(expiry) < (now or time.time()):
        return None
    try:
        return base64.urlsafe_b64decode(name + "=" * (-len(name) % 4)).decode()
    except (ValueError, UnicodeDecodeError):
        return None
