"""Finding images under a folder and cutting the list into chunk tasks."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import NamedTuple

# The file names a scan or an upload takes for images (any case); decoding is labeler.imaging's.
IMAGE_EXTENSIONS = frozenset(
    {".jpg", ".jpeg", ".png", ".bmp", ".gif", ".webp", ".tif", ".tiff", ".avif", ".heic", ".heif"}
)
# For messages: the extensions a scan or an upload looks for.
IMAGE_EXTENSION_LIST = ", ".join(sorted(e.lstrip(".") for e in IMAGE_EXTENSIONS))


def is_image_path(name: str) -> bool:
    return os.path.splitext(name)[1].lower() in IMAGE_EXTENSIONS


class ScannedFile(NamedTuple):
    path: str  # relative to the scanned root, '/'-separated
    size: int


def scan_images(root: Path) -> list[ScannedFile]:
    """Image files under `root`, recursively, sorted; other files are ignored.

    Symbolic links are not followed, so a scan never leaves the submitted folder. Written for
    a million files: relative paths by slicing, no per-file objects beyond the result.
    """
    found: list[ScannedFile] = []
    base = str(root).rstrip(os.sep) + os.sep
    skip = len(base)
    stack = [base.rstrip(os.sep) or os.sep]
    while stack:
        folder = stack.pop()
        try:
            entries = list(os.scandir(folder))
        except (PermissionError, FileNotFoundError):
            continue
        for entry in entries:
            if entry.is_dir(follow_symlinks=False):
                stack.append(entry.path)
            elif (name := entry.name)[name.rfind("."):].lower() in IMAGE_EXTENSIONS and \
                    entry.is_file(follow_symlinks=False):
                rel = entry.path[skip:]
                if os.sep != "/":
                    rel = rel.replace(os.sep, "/")
                found.append(ScannedFile(rel, entry.stat(follow_symlinks=False).st_size))
    found.sort()
    return found


def chunk_files(
    files: list[ScannedFile], max_images: int, max_bytes: int
) -> Iterator[list[ScannedFile]]:
    """Consecutive chunks of at most `max_images` files and `max_bytes` bytes (one oversize
    file still forms a chunk of its own)."""
    chunk: list[ScannedFile] = []
    size = 0
    for item in files:
        if chunk and (len(chunk) >= max_images or size + item.size > max_bytes):
            yield chunk
            chunk, size = [], 0
        chunk.append(item)
        size += item.size
    if chunk:
        yield chunk


# Below this many images a chunk's fixed cost (two round trips, Celery's bookkeeping) weighs
# more than a shorter wait at a job's end saves.
MIN_TAIL_CHUNK = 16


def tapered_chunks(
    files: list[ScannedFile], max_images: int, max_bytes: int
) -> Iterator[list[ScannedFile]]:
    """`chunk_files`, with the last 2 x `max_images` files in chunks that halve in size two
    at a time (`tail_sizes`). A job ends when its last chunk does: while one process runs
    the last chunk the others wait, so the last chunks are the smallest, and a small job is
    spread over several processes."""
    cut = max(0, len(files) - 2 * max_images)
    yield from chunk_files(files[:cut], max_images, max_bytes)
    start = cut
    for size in tail_sizes(len(files) - cut, max_images):
        yield from chunk_files(files[start:start + size], size, max_bytes)
        start += size


class StreamedChunks:
    """`tapered_chunks` over files that arrive a page at a time (a bucket's listing): full
    chunks as soon as the files after them are enough to taper the end, the tapered tail
    when the listing ends. Holds fewer than 3 x `max_images` files at a time."""

    def __init__(self, max_images: int, max_bytes: int) -> None:
        self.max_images, self.max_bytes = max_images, max_bytes
        self.held: list = []

    def feed(self, files: list) -> Iterator[list]:
        self.held.extend(files)
        while len(self.held) >= 3 * self.max_images:
            chunk = next(chunk_files(self.held, self.max_images, self.max_bytes))
            del self.held[:len(chunk)]
            yield chunk

    def finish(self) -> Iterator[list]:
        held, self.held = self.held, []
        yield from tapered_chunks(held, self.max_images, self.max_bytes)


def tail_sizes(count: int, max_images: int) -> list[int]:
    """Chunk sizes for a job's last `count` files: from half of `max_images` (at most a
    quarter of `count`) halving every two chunks, none under MIN_TAIL_CHUNK but the only one,
    and the last taking a remainder that would be smaller."""
    size = max(MIN_TAIL_CHUNK, min(max_images // 2, -(-count // 4)))
    sizes: list[int] = []
    while count > 0:
        take = count if count - size < MIN_TAIL_CHUNK else size
        sizes.append(take)
        count -= take
        if len(sizes) % 2 == 0:
            size = max(MIN_TAIL_CHUNK, size // 2)
    return sizes


def resolve_inside(root: Path, relative: str) -> Path:
    """`root/relative`, refused when it would leave `root` (.., absolute paths, symlinks)."""
    base = Path(os.path.realpath(root))
    target = Path(os.path.realpath(base / relative))
    if target != base and base not in target.parents:
        raise ValueError(f"{relative!r} escapes the submitted folder")
    return target


class InsideResolver:
    """`resolve_inside` for many paths under one root, as strings, resolving each folder
    once: a chunk's images share a few folders, a full resolution costs a system call per
    component, and pathlib's objects cost more than that system call."""

    def __init__(self, root: Path) -> None:
        self.base = Path(os.path.realpath(root))
        self.folders: dict[str, str] = {}

    def resolve(self, relative: str) -> str:
        folder, _, name = relative.rpartition("/")
        if name in ("", ".", "..") or os.path.isabs(relative):
            return str(resolve_inside(self.base, relative))
        prefix = self.folders.get(folder)
        if prefix is None:
            prefix = self.folders[folder] = os.path.join(
                resolve_inside(self.base, folder or "."), "")
        target = prefix + name
        # A symbolic link as the last component could point anywhere: resolve it in full.
        return str(resolve_inside(self.base, relative)) if os.path.islink(target) else target


def is_inside(path: Path, root: Path) -> bool:
    """Whether `path` (resolved) lies under `root`: the allowed-roots check of workers and
    the web app."""
    try:
        resolve_inside(root, str(path.resolve()))
    except ValueError:
        return False
    return True
