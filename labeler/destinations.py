"""Where a results file goes: standard output ('-'), a local path, or a bucket URL
(s3://bucket/labels.csv), which fsspec writes with the same credentials the workers read with.

A file appears only once written whole: a local one is written beside its name and renamed, a
bucket object is committed at the end (a multipart upload is aborted on error), so a results
file that fails halfway (Redis gone, a full disk) leaves nothing that looks complete.
"""

from __future__ import annotations

import contextlib
import io
import os
import sys
import tempfile
from collections.abc import Iterator
from typing import IO

from labeler.buckets import filesystem, is_bucket_url
from labeler.errors import ServiceError


@contextlib.contextmanager
def open_destination(path: str, binary: bool = False) -> Iterator[IO]:
    """`path` opened for writing, text (UTF-8, no newline translation) or binary."""
    if path == "-":
        yield sys.stdout.buffer if binary else sys.stdout
        return
    opened = _bucket_object(path) if is_bucket_url(path) else _local_file(path)
    with opened as raw, (contextlib.nullcontext(raw) if binary else _text(raw)) as out:
        yield out


@contextlib.contextmanager
def _local_file(path: str) -> Iterator[IO[bytes]]:
    folder = os.path.dirname(os.path.abspath(path))
    fd, partial = tempfile.mkstemp(dir=folder, prefix=f".{os.path.basename(path)}.",
                                   suffix=".part")
    try:
        with os.fdopen(fd, "wb") as fh:
            yield fh
        os.chmod(partial, 0o644)  # mkstemp's 0600 is for the half-written file only
        os.replace(partial, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(partial)
        raise


@contextlib.contextmanager
def _bucket_object(url: str) -> Iterator[IO[bytes]]:
    fs = filesystem(url.split("://", 1)[0])
    try:
        raw = fs.open(url, "wb", autocommit=False)
    except (PermissionError, FileNotFoundError) as exc:
        raise ServiceError(f"cannot write {url}: {exc}") from None
    try:
        yield raw
        raw.close()
        raw.commit()
    except BaseException:
        with contextlib.suppress(Exception):
            raw.discard()
        raise


@contextlib.contextmanager
def _text(raw: IO[bytes]) -> Iterator[IO[str]]:
    text = io.TextIOWrapper(raw, encoding="utf-8", newline="")
    yield text
    text.flush()
    text.detach()
