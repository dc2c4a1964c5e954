"""Images in object storage (s3://, gs://, az://, ... whatever fsspec has a driver for).

A bucket job's root is a URL such as `s3://bucket/photos`; its items are object keys relative
to that prefix, as a folder job's are paths relative to its folder. Credentials come from the
driver's standard chain (environment, profile, instance or pod role) in each process that
reads: they never travel in a task, sit in Redis or show in a message. An S3-compatible store
is named the standard way, `AWS_ENDPOINT_URL` (or `AWS_ENDPOINT_URL_S3`).

fsspec, and the driver, load on first use: `labeler` commands on folders never import them.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, NamedTuple

from labeler.errors import ServiceError, UsageError
from labeler.scan import is_image_path
from labeler.urls import BUCKET_PROTOCOLS, is_bucket_url, split_bucket_url

if TYPE_CHECKING:
    from fsspec import AbstractFileSystem

__all__ = ["BucketRoot", "ListedObject", "bucket_root", "filesystem", "is_bucket_url",
           "list_images"]

LISTING_PAGE = 1000  # objects a listing hands on at a time (S3's own page size)


@dataclass(frozen=True)
class BucketRoot:
    """A job's root in object storage: `protocol://path`, the path without a trailing '/'."""

    protocol: str
    path: str

    @property
    def url(self) -> str:
        return f"{self.protocol}://{self.path}"

    def object_path(self, key: str) -> str:
        """The driver's path of the object `key` (relative to the root); ValueError for a key
        that would name anything outside it."""
        if not key or key.startswith("/") or any(p in ("..", ".") for p in key.split("/")):
            raise ValueError(f"{key!r} escapes the submitted prefix")
        return f"{self.path}/{key}"

    def object_url(self, key: str) -> str:
        return f"{self.protocol}://{self.object_path(key)}"

    def within(self, allowed: str) -> bool:
        """Whether this root lies under the URL prefix `allowed` (bucket or bucket/prefix)."""
        other = bucket_root(allowed)
        return other.protocol == self.protocol and (
            self.path == other.path or self.path.startswith(other.path + "/"))


def bucket_root(url: str) -> BucketRoot:
    parts = split_bucket_url(url)
    if parts is None:
        raise UsageError(f"{url!r} is not a bucket URL such as s3://bucket/prefix (protocols: "
                         f"{', '.join(sorted(BUCKET_PROTOCOLS))})")
    return BucketRoot(*parts)


def filesystem(protocol: str, *, timeout: float = 30.0, concurrency: int = 32
               ) -> AbstractFileSystem:
    """The fsspec filesystem for `protocol`, with labeler's time limits where the driver takes
    them; one line that says what to install when the driver is missing."""
    import fsspec

    try:
        cls = fsspec.get_filesystem_class(protocol)
    except (ImportError, ValueError):
        package = BUCKET_PROTOCOLS.get(protocol, f"the fsspec driver for {protocol}://")
        raise UsageError(f"reading {protocol}:// needs {package}: pip install {package}"
                         ) from None
    options: dict = {}
    if protocol in ("s3", "s3a"):
        # Bounded waits: a store that stalls fails its items with "timeout" well within a
        # chunk's time limit, instead of botocore's 60 s a try. A second over the readers'
        # own deadline (labeler.bucket_reads), so theirs is the one that fires.
        options = {"config_kwargs": {
            "connect_timeout": min(timeout, 10.0), "read_timeout": timeout + 1,
            "retries": {"max_attempts": 3, "mode": "standard"},
            "max_pool_connections": concurrency}}
    fs = cls(**options)
    if protocol in ("s3", "s3a"):
        fs.retries = 2  # s3fs's own retries, around botocore's (5 by default)
    return fs


class ListedObject(NamedTuple):
    path: str  # the key relative to the root, as a folder job's relative path
    size: int
    etag: str  # what changes when the object does: ETag, MD5 or modification time


def list_images(root: BucketRoot, page: int = LISTING_PAGE) -> Iterator[list[ListedObject]]:
    """The image objects under `root`, recursively, a page at a time, in key order. S3 is
    listed page by page as the store answers, so a million keys never sit in memory; other
    drivers are walked whole by fsspec's `find` first."""
    fs = filesystem(root.protocol)
    try:
        if hasattr(fs, "_iterdir") and root.protocol in ("s3", "s3a"):
            yield from _s3_pages(fs, root, page)
            return
        found = fs.find(root.path, detail=True)
        listed = sorted(x for info in found.values() if (x := _listed(root, info)))
        for start in range(0, len(listed), page):
            yield listed[start:start + page]
    except FileNotFoundError:
        raise UsageError(f"{root.url} does not exist (no such bucket)") from None
    except PermissionError as exc:
        raise ServiceError(f"listing {root.url} was refused ({_short(exc)}): check the "
                           "credentials this machine uses for it") from None
    except OSError as exc:
        raise ServiceError(f"listing {root.url} failed: {_short(exc)}") from None


def _s3_pages(fs, root: BucketRoot, page: int) -> Iterator[list[ListedObject]]:
    from fsspec.asyn import sync

    bucket, _, prefix = root.path.partition("/")
    pages = fs._iterdir(bucket, delimiter="", prefix=f"{prefix}/" if prefix else "")
    try:
        while infos := sync(fs.loop, _take, pages, page):
            yield [x for info in infos if (x := _listed(root, info))]
    except Exception as exc:
        raise _plain_error(exc) from None


async def _take(pages, count: int) -> list[dict]:
    taken: list[dict] = []
    async for info in pages:
        taken.append(info)
        if len(taken) >= count:
            break
    return taken


def _listed(root: BucketRoot, info: dict) -> ListedObject | None:
    name = info.get("name") or info.get("Key") or ""
    key = name[len(root.path) + 1:] if name.startswith(root.path + "/") else ""
    if not key or info.get("type") == "directory" or not is_image_path(key):
        return None
    etag = (info.get("ETag") or info.get("etag") or info.get("md5Hash")
            or info.get("LastModified") or info.get("last_modified") or info.get("mtime") or "")
    return ListedObject(key, int(info.get("size") or info.get("Size") or 0), str(etag))


def _plain_error(exc: BaseException) -> BaseException:
    """botocore's connection errors as an OSError, so callers catch one family."""
    if isinstance(exc, OSError):
        return exc
    return OSError(_short(exc))


def _short(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return text[:160]
