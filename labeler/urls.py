"""Bucket URLs (s3://bucket/prefix), told apart from folder paths and split into protocol and
path: what settings and every bucket reader agree on."""

from __future__ import annotations

import re

_URL = re.compile(r"^([a-z][a-z0-9+.-]*)://(.+)$")
# Object stores only, each with the fsspec driver that reads it: a job's root or a task must
# not turn workers into fetchers of any URL (http://, a cloud's metadata address).
BUCKET_PROTOCOLS = {"s3": "s3fs", "s3a": "s3fs", "gs": "gcsfs", "gcs": "gcsfs",
                    "az": "adlfs", "abfs": "adlfs", "abfss": "adlfs", "oss": "ossfs",
                    "oci": "ocifs"}


def is_bucket_url(text: str) -> bool:
    match = _URL.match(str(text))
    return bool(match) and match.group(1) in BUCKET_PROTOCOLS


def split_bucket_url(text: str) -> tuple[str, str] | None:
    """(protocol, path without surrounding '/'), or None for anything but a bucket URL that
    names at least a bucket, with no '.', '..' or empty segment and no user@."""
    match = _URL.match(text.strip())
    if not match or match.group(1) not in BUCKET_PROTOCOLS:
        return None
    path = match.group(2).strip("/")
    segments = path.split("/")
    if not path or "@" in segments[0] or any(s in ("", ".", "..") for s in segments):
        return None
    return match.group(1), path
