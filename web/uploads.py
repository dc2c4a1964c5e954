"""Putting uploaded images (loose files or zips) under LABELER_HOME, safely.

Names from the browser and from zip members are untrusted: every one is reduced to plain path
components and resolved inside the upload's own folder, only image extensions are kept, and
sizes and counts are capped before anything is written, so a zip bomb or `../../x` never
leaves the folder or fills the disk.
"""

from __future__ import annotations

import re
import shutil
import time
import uuid
import zipfile
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import BinaryIO

from labeler.errors import LabelerError
from labeler.imaging import MAX_FILE_BYTES
from labeler.scan import IMAGE_EXTENSION_LIST, is_image_path, resolve_inside

COPY_BLOCK = 1 << 20
UNSAFE_CHARACTERS = re.compile(r"[\x00-\x1f\\:*?\"<>|]")


class UploadRefused(LabelerError):
    """The upload as a whole is refused; nothing of it is kept. `too_large`: it broke a size
    or count limit (HTTP 413), rather than holding nothing usable (422)."""

    def __init__(self, message: str, *, too_large: bool = False) -> None:
        super().__init__(message)
        self.too_large = too_large


@dataclass(frozen=True)
class UploadLimits:
    max_files: int = 10_000
    max_total_bytes: int = 1 << 30
    max_file_bytes: int = MAX_FILE_BYTES


@dataclass
class SavedUpload:
    folder: Path
    saved: list[str] = field(default_factory=list)
    skipped: dict[str, str] = field(default_factory=dict)
    total_bytes: int = 0


def new_upload_folder(home: Path) -> Path:
    folder = uploads_root(home) / (time.strftime("%Y%m%d-%H%M%S-") + uuid.uuid4().hex[:6])
    folder.mkdir(parents=True)
    return folder


def uploads_root(home: Path) -> Path:
    return home / "uploads"


def safe_relative_name(name: str) -> str | None:
    """`name` as a relative '/'-separated path of harmless components, or None if nothing of
    it is usable. Leading folders are kept (they often are the ground-truth class)."""
    parts = []
    for part in PurePosixPath(name.replace("\\", "/")).parts:
        part = UNSAFE_CHARACTERS.sub("_", part).strip()
        if part in ("", ".", "..", "/") or part.startswith("."):
            continue
        parts.append(part[:200])
    return "/".join(parts) if parts else None


def save_uploads(
    files: list[tuple[str, BinaryIO]], home: Path, limits: UploadLimits
) -> SavedUpload:
    """Save (filename, stream) pairs into a new folder under `home`; zips are unpacked."""
    upload = SavedUpload(new_upload_folder(home))
    try:
        for name, stream in files:
            if name.lower().endswith(".zip"):
                _save_zip(stream, upload, limits)
            else:
                _save_one(name, stream, upload, limits)
    except BaseException:
        shutil.rmtree(upload.folder, ignore_errors=True)
        raise
    if not upload.saved:
        shutil.rmtree(upload.folder, ignore_errors=True)
        reasons = "; ".join(f"{k}: {v}" for k, v in list(upload.skipped.items())[:3])
        raise UploadRefused("no images in the upload" + (f" ({reasons})" if reasons else ""))
    return upload


def _save_one(name: str, stream: BinaryIO, upload: SavedUpload, limits: UploadLimits) -> None:
    relative = safe_relative_name(name)
    if relative is None or not is_image_path(relative):
        upload.skipped[name] = f"not an image file name ({IMAGE_EXTENSION_LIST})"
        return
    if len(upload.saved) >= limits.max_files:
        raise UploadRefused(f"more than {limits.max_files:,} images in one upload",
                            too_large=True)
    target = _unique(resolve_inside(upload.folder, relative))
    target.parent.mkdir(parents=True, exist_ok=True)
    try:
        written = _copy_capped(stream, target, upload.total_bytes, limits)
    except BaseException:
        target.unlink(missing_ok=True)
        raise
    if written > limits.max_file_bytes:
        target.unlink()
        upload.skipped[name] = f"too-large: over {limits.max_file_bytes // 2**20} MiB"
        return
    upload.total_bytes += written
    upload.saved.append(target.relative_to(upload.folder).as_posix())


def _copy_capped(stream: BinaryIO, target: Path, before: int, limits: UploadLimits) -> int:
    """Copy until the file's or the upload's cap; returns the bytes read (over the file cap
    means the file was cut short and must go)."""
    written = 0
    with open(target, "wb") as out:
        while block := stream.read(COPY_BLOCK):
            written += len(block)
            if written > limits.max_file_bytes:
                break
            if before + written > limits.max_total_bytes:
                raise UploadRefused(f"upload over {limits.max_total_bytes // 2**20:,} MiB",
                                    too_large=True)
            out.write(block)
    return written


def _save_zip(stream: BinaryIO, upload: SavedUpload, limits: UploadLimits) -> None:
    try:
        archive = zipfile.ZipFile(stream)
    except (zipfile.BadZipFile, OSError) as exc:
        raise UploadRefused(f"not a readable zip: {exc}") from None
    with archive:
        members = [m for m in archive.infolist() if not m.is_dir()]
        # The sizes in the directory may lie; _save_one counts the bytes really inflated.
        declared = sum(m.file_size for m in members if is_image_path(m.filename))
        if declared > limits.max_total_bytes:
            raise UploadRefused(f"zip inflates to over {limits.max_total_bytes // 2**20:,} MiB",
                                too_large=True)
        for member in members:
            if not is_image_path(member.filename):
                continue
            try:
                with archive.open(member) as data:
                    _save_one(member.filename, data, upload, limits)
            except (zipfile.BadZipFile, NotImplementedError, RuntimeError, OSError) as exc:
                upload.skipped[member.filename] = f"corrupt: {exc}"[:160]


def _unique(target: Path) -> Path:
    """Two uploads of the same name keep both files."""
    if not target.exists():
        return target
    for n in range(1, 10_000):
        candidate = target.with_name(f"{target.stem}-{n}{target.suffix}")
        if not candidate.exists():
            return candidate
    raise UploadRefused(f"too many files named {target.name}")
