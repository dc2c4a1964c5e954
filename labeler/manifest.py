"""Manifests: a CSV of `path,label,source`, one image a row, that `labeler train` reads as
training data (the reviewed labels of a Label Studio project, or any list a user writes).

Relative paths are relative to the manifest's own folder; `source` is optional on reading
(how a label came to be: corrected, accepted, annotated, predicted, or anything the user
writes there).
"""

from __future__ import annotations

import csv
import os
from collections.abc import Iterable
from pathlib import Path

from labeler.errors import LabelerError

HEADER = ("path", "label", "source")


def is_manifest(source: str) -> bool:
    return source.lower().endswith(".csv") and os.path.isfile(source)


def write_manifest(rows: Iterable, path: Path, header: tuple[str, ...] = HEADER) -> int:
    """`rows` of (path, label, source) (ReviewedLabel is one), or of `header`'s columns;
    written atomically."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    count = 0
    with open(tmp, "w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(header)
        for row in rows:
            writer.writerow(row)
            count += 1
    os.replace(tmp, path)
    return count


def read_manifest(path: str) -> list[tuple[str, str]]:
    """(absolute image path, label) of every row."""
    base = os.path.dirname(os.path.abspath(path))
    with open(path, newline="", encoding="utf-8") as fh:
        reader = csv.DictReader(fh)
        missing = {"path", "label"} - set(reader.fieldnames or ())
        if missing:
            raise LabelerError(f"{path} is not a manifest: its header needs the columns "
                               f"path and label (has {', '.join(reader.fieldnames or ['none'])})")
        rows = []
        for line, row in enumerate(reader, start=2):
            if not row["path"] or not row["label"]:
                raise LabelerError(f"{path}:{line}: a row needs a path and a label")
            rows.append((os.path.join(base, row["path"]), row["label"]))
    if not rows:
        raise LabelerError(f"{path} lists no images")
    return rows
