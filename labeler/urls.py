"""Bucket URLs (s3://bucket/prefix), told apart from folder paths and split into protocol and
path: what settings and every bucket reader agree on."""

from __future__ import annotations

import re

_URL = re.compile(r"^([a-z][a-z0-9+.-]*)://(.+)$")
# Protocols that are a local folder under another name.
LOCAL_PROTOCOLS = ("file", "local")


def is_bucket_url(text: str) -> bool:
    match = _URL.match(str(text))
    return bool(match) and match.group(1) not in LOCAL_PROTOCOLS


def split_bucket_url(text: str) -> tuple[str, str] | None:
    """(protocol, path without surrounding '/'), or None for anything but a bucket URL that
    names at least a bucket."""
    match = _URL.match(text.strip())
    if not match or match.group(1) in LOCAL_PROTOCOLS or not match.group(2).strip("/"):
        return None
    return match.group(1), match.group(2).strip("/")
