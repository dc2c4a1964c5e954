"""The users file of `labeler serve --auth users`: one `name:argon2-hash` a line.

`labeler users add FILE NAME` writes it (argon2id through argon2-cffi, its recommended
parameters); the server only reads it, once at start."""

from __future__ import annotations

import os
import re
from pathlib import Path

from labeler.errors import UsageError

NAME = re.compile(r"^[A-Za-z0-9._@-]{1,64}$")


def hasher():
    from argon2 import PasswordHasher

    return PasswordHasher()


def read_users(path: Path) -> dict[str, str]:
    """name -> hash; a missing, empty or malformed file is one line that says what to do."""
    try:
        text = path.read_text()
    except OSError as exc:
        raise UsageError(f"cannot read the users file {path} ({exc.strerror}): make it with "
                         f"'labeler users add {path} NAME'") from None
    users: dict[str, str] = {}
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip() or line.startswith("#"):
            continue
        name, _, hashed = line.partition(":")
        if not NAME.match(name) or not hashed.startswith("$argon2"):
            raise UsageError(f"{path}:{number} is not 'name:argon2-hash': make lines with "
                             f"'labeler users add {path} NAME'")
        users[name] = hashed
    if not users:
        raise UsageError(f"{path} names no user: add one with 'labeler users add {path} NAME'")
    return users


def check_password(users: dict[str, str], name: str, password: str) -> bool:
    """Whether `password` is `name`'s. An unknown name costs a hash too, so the time taken
    does not tell which names exist."""
    from argon2.exceptions import VerificationError

    stored = users.get(name)
    try:
        hasher().verify(stored or _DECOY.hash, password)
    except VerificationError:
        return False
    return stored is not None


class _Decoy:
    """A hash to verify against for unknown names, made on first use."""

    _hash: str | None = None

    @property
    def hash(self) -> str:
        if self._hash is None:
            self._hash = hasher().hash("no such user")
        return self._hash


_DECOY = _Decoy()


def add_user(path: Path, name: str, password: str) -> bool:
    """Add `name` with `password`'s hash, or replace its hash; True if it was new. The file is
    written whole and readable by its owner only."""
    if not NAME.match(name):
        raise UsageError(f"{name!r} is not a user name: use letters, digits and ._@- "
                         "(up to 64)")
    lines = path.read_text().splitlines() if path.exists() else []
    entry = f"{name}:{hasher().hash(password)}"
    kept = [line for line in lines if line.partition(":")[0] != name]
    new = len(kept) == len(lines)
    temporary = path.with_name(path.name + ".tmp")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write("\n".join([*kept, entry]) + "\n")
    os.replace(temporary, path)
    return new
