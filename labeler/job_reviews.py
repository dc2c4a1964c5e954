"""A job's reviews as a manifest: `path,label,source,reviewer,reviewed_at`, the rows
`labeler reviewed` writes from a Label Studio export (plus who and when), which
`labeler train --from` takes. Paths are absolute, so the manifest can live anywhere."""

from __future__ import annotations

import csv
import io
import time
from collections.abc import Iterator
from pathlib import Path

from labeler.manifest import HEADER, write_manifest
from labeler.store import JobStore

REVIEWED_HEADER = (*HEADER, "reviewer", "reviewed_at")


def reviewed_rows(store: JobStore, job_id: str) -> Iterator[tuple[str, str, str, str, str]]:
    """(path, label, source, reviewer, UTC time) of every reviewed item, in index order."""
    root = Path(store.require(job_id).record.get("root", ""))
    reviews = store.iter_reviews(job_id)
    review = next(reviews, None)
    start = 0
    for paths in store.paths(job_id):
        while review is not None and review.index < start + len(paths):
            yield (str(root / paths[review.index - start]), review.label, review.source,
                   review.by, time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(review.at)))
            review = next(reviews, None)
        start += len(paths)


def write_reviewed(store: JobStore, job_id: str, out: Path) -> int:
    """The manifest of `job_id`'s reviews, written atomically to `out`; the rows written."""
    return write_manifest(reviewed_rows(store, job_id), out, header=REVIEWED_HEADER)


def reviewed_csv(store: JobStore, job_id: str) -> Iterator[str]:
    """The same manifest as text, a row at a time (for downloads)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(REVIEWED_HEADER)
    for row in reviewed_rows(store, job_id):
        writer.writerow(row)
        yield buffer.getvalue()
        buffer.seek(0)
        buffer.truncate()
    yield buffer.getvalue()
