"""Where a results file goes: standard output ('-'), a local path, or a bucket URL
(s3://bucket/labels.csv), which fsspec writes with the same credentials the workers read with."""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Iterator
from typing import IO

from labeler.buckets import filesystem, is_bucket_url
from labeler.errors import ServiceError


@contextlib.contextmanager
def open_destination(path: str, binary: bool = False) -> Iterator[IO]:
    """`path` opened for writing, text (UTF-8, no newline translation) or binary. A bucket
    object appears only once it is written whole: a failed write leaves no half file."""
    if path == "-":
        yield sys.stdout.buffer if binary else sys.stdout
        return
    if not is_bucket_url(path):
        with (open(path, "wb") if binary else open(path, "w", newline="",
                                                     encoding="utf-8")) as fh:
            yield fh
        return
    protocol = path.split("://", 1)[0]
    fs = filesystem(protocol)
    try:
        with fs.open(path, "wb") as raw:
            if binary:
                yield raw
                return
            import io

            text = io.TextIOWrapper(raw, encoding="utf-8", newline="")
            yield text
            text.flush()
            text.detach()
    except (PermissionError, FileNotFoundError) as exc:
        raise ServiceError(f"cannot write {path}: {exc}") from None
