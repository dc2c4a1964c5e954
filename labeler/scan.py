"""Finding images under a folder and cutting the list into chunk tasks."""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from labeler.imaging import is_image_path


@dataclass(frozen=True)
class ScannedFile:
    path: str  # relative to the scanned root, '/'-separated
    size: int


def scan_images(root: Path) -> list[ScannedFile]:
    """Image files under `root`, recursively, sorted; other files are ignored.

    Symbolic links are not followed, so a scan never leaves the submitted folder.
    """
    found: list[ScannedFile] = []
    stack = [str(root)]
    while stack:
        folder = stack.pop()
        try:
            entries = list(os.scandir(folder))
        except (PermissionError, FileNotFoundError):
            continue
        for entry in entries:
            if entry.is_dir(follow_symlinks=False):
                stack.append(entry.path)
            elif entry.is_file(follow_symlinks=False) and is_image_path(entry.name):
                rel = os.path.relpath(entry.path, root).replace(os.sep, "/")
                found.append(ScannedFile(rel, entry.stat(follow_symlinks=False).st_size))
    found.sort(key=lambda f: f.path)
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


def resolve_inside(root: Path, relative: str) -> Path:
    """`root/relative`, refused when it would leave `root` (.., absolute paths, symlinks)."""
    base = Path(os.path.realpath(root))
    target = Path(os.path.realpath(base / relative))
    if target != base and base not in target.parents:
        raise ValueError(f"{relative!r} escapes the submitted folder")
    return target


def is_inside(path: Path, root: Path) -> bool:
    """Whether `path` (resolved) lies under `root`: the allowed-roots check of workers and
    the web app."""
    try:
        resolve_inside(root, str(path.resolve()))
    except ValueError:
        return False
    return True
