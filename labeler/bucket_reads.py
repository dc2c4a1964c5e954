"""Reading a chunk's objects from a bucket: concurrently, each bounded in time and size, each
failure an item's reason rather than the chunk's.

A chunk is at most LABELER_CHUNK_BYTES, so fetching all of it before decoding holds a bounded
amount; the reads run `concurrency` at a time, so a chunk costs a few round trips of wall time,
not one per image. The driver retries what is worth retrying (throttling, dropped
connections) with backoff; a read still unanswered after `timeout` fails as "timeout".
"""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor

from labeler.buckets import BucketRoot, bucket_root, filesystem
from labeler.errors import LabelerError
from labeler.imaging import MAX_FILE_BYTES


class BucketReader:
    """One per process: the filesystem objects (and their connection pools) live as long as
    it does, one per protocol."""

    def __init__(self, timeout: float = 30.0, concurrency: int = 32,
                 chunk_seconds: float | None = None, chunk_bytes: int = 256 << 20) -> None:
        """`timeout` bounds one read; `chunk_seconds` all of a chunk's (reads still waiting
        for their turn then fail too), so a stalled store cannot hold a chunk past its task's
        time limit; reads stop starting once `chunk_bytes` have come in (a chunk is cut to
        LABELER_CHUNK_BYTES by the listed sizes, but objects can grow after listing)."""
        self.timeout, self.concurrency = timeout, concurrency
        self.chunk_seconds, self.chunk_bytes = chunk_seconds, chunk_bytes
        self._filesystems: dict[str, object] = {}

    def fetch(self, root: BucketRoot, items: list[tuple[int, str]]
              ) -> tuple[list[tuple[int, bytes]], dict[int, str]]:
        """(index, the object's bytes) for each (index, key) that could be read, in order, and
        the reasons of those that could not."""
        sources: list[tuple[int, bytes]] = []
        failed: dict[int, str] = {}
        wanted: list[tuple[int, str]] = []
        for index, key in items:
            try:
                wanted.append((index, root.object_path(key)))
            except (ValueError, TypeError):
                failed[index] = "refused: key escapes the submitted prefix"
        if not wanted:
            return sources, failed
        try:
            fs = self._filesystem(root.protocol)
        except LabelerError as exc:  # no driver here: retrying the chunk would not help
            failed.update((index, f"unreadable: {exc}") for index, _ in wanted)
            return sources, failed
        paths = [path for _, path in wanted]
        got = self._read_async(fs, paths) if getattr(fs, "async_impl", False) else (
            self._read_threads(fs, paths))
        for (index, _), value in zip(wanted, got, strict=True):
            if isinstance(value, bytes):
                sources.append((index, value))
            else:
                failed[index] = self.reason(value)
        return sources, failed

    def _filesystem(self, protocol: str):
        fs = self._filesystems.get(protocol)
        if fs is None:
            fs = self._filesystems[protocol] = filesystem(
                protocol, timeout=self.timeout, concurrency=self.concurrency)
        return fs

    def _read_async(self, fs, paths: list[str]) -> list[bytes | BaseException]:
        from fsspec.asyn import sync

        return sync(fs.loop, _gather, fs, paths, self)

    def _read_threads(self, fs, paths: list[str]) -> list[bytes | BaseException]:
        def read(path: str) -> bytes | BaseException:
            try:
                return fs.cat_file(path, start=0, end=MAX_FILE_BYTES + 1)
            except Exception as exc:  # an item's failure, told by its reason
                return exc

        with ThreadPoolExecutor(max_workers=min(self.concurrency, len(paths))) as pool:
            return list(pool.map(read, paths))

    def reason(self, exc: BaseException) -> str:
        """An item's failure reason for a read that failed with `exc`."""
        if isinstance(exc, ChunkTimeout):
            return f"timeout: the chunk's reads took over {self.chunk_seconds:g} s"
        if isinstance(exc, ChunkTooLarge):
            return (f"too-large: the chunk's objects came to over {self.chunk_bytes >> 20} MiB "
                    "(changed since they were listed?)")
        if isinstance(exc, FileNotFoundError):
            return "missing: deleted after listing"
        if isinstance(exc, PermissionError):
            return f"unreadable: AccessDenied ({_first_line(exc)})"
        name = type(exc).__name__
        if isinstance(exc, TimeoutError) or "timeout" in (
                f"{name} {exc}".lower()):
            return f"timeout: no answer from the store in {self.timeout:g} s"
        if "Connect" in name or isinstance(exc, ConnectionError):
            return f"unreadable: cannot reach the store ({_first_line(exc)})"
        return f"unreadable: {name} ({_first_line(exc)})"


def bucket_sources(reader: BucketReader, url: str, items: list[tuple[int, object]],
                   allowed: tuple[str, ...] | None) -> tuple[list[tuple[int, bytes]],
                                                            dict[int, str]]:
    """A bucket job's counterpart of labeler.protocol.decode_items: (index, bytes) of the
    chunk's objects and the refused or unreadable ones with reasons. Anyone who can write to
    the broker can send a task, so the root is checked against `allowed` (None: any)."""
    root = bucket_root(url)
    if allowed is not None and not any(root.within(a) for a in allowed):
        return [], dict.fromkeys((i for i, _ in items),
                                 "refused: bucket outside LABELER_ALLOWED_BUCKETS")
    keys = [(i, item) for i, item in items if isinstance(item, str)]
    sources, failed = reader.fetch(root, keys)
    failed.update((i, "refused: a bucket job's items are keys") for i, item in items
                  if not isinstance(item, str))
    return sources, failed


class ChunkTimeout(TimeoutError):
    """A read the chunk's deadline cut short, or never started."""


class ChunkTooLarge(Exception):
    """A read not started: the chunk's objects already came to more than a chunk may hold."""


async def _gather(fs, paths: list[str], reader: BucketReader) -> list[bytes | BaseException]:
    limit = asyncio.Semaphore(reader.concurrency)
    held = 0

    async def read(path: str) -> bytes | BaseException:
        nonlocal held
        async with limit:
            if held > reader.chunk_bytes:
                return ChunkTooLarge()
            try:
                # Bounded: an object over the size limit fails in decoding, not in memory.
                data = await asyncio.wait_for(
                    fs._cat_file(path, start=0, end=MAX_FILE_BYTES + 1), reader.timeout)
            except Exception as exc:  # an item's failure, told by its reason
                return exc
            held += len(data)
            return data

    tasks = [asyncio.ensure_future(read(path)) for path in paths]
    done, pending = await asyncio.wait(tasks, timeout=reader.chunk_seconds)
    for task in pending:
        task.cancel()
    await asyncio.gather(*pending, return_exceptions=True)
    return [task.result() if task in done else ChunkTimeout() for task in tasks]


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return (text.splitlines()[0] if text else type(exc).__name__)[:120]
