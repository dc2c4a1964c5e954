"""A job's near-duplicate groups, with the paths and labels a reader wants: what
`labeler duplicates JOB` prints and writes and what the web page shows.

The groups are item indices (labeler.duplicates); paths and labels are looked up only for
the rows shown or written, and a CSV of every group is written a group at a time from
compact columns, so a million grouped images stay within a few hundred MB."""

from __future__ import annotations

import csv
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from labeler.duplicates import RADIUS, DuplicateGroups, find_groups
from labeler.signature import distance
from labeler.store import JobProgress, JobStore
from labeler.store.result_text import CsvFields

# Up to this many grouped images are looked up one by one; more, and the whole job is read
# in blocks (a lookup by index walks the list: a million of them would take minutes).
LOOKUPS = 5000
CSV_FIELDS = ("group", "size", "path", "label", "confidence", "bits_from_first")


@dataclass(frozen=True)
class DuplicateRow:
    group: int
    size: int
    index: int
    path: str
    label: str | None
    confidence: float | None
    bits_from_first: int  # signature bits that differ from the group's first image

    def as_dict(self) -> dict:
        return {"group": self.group, "size": self.size, "index": self.index, "path": self.path,
                "label": self.label, "confidence": self.confidence,
                "bits_from_first": self.bits_from_first}


@dataclass(frozen=True)
class JobDuplicates:
    """A job's groups; `rows` for the first `shown` of them."""

    job: JobProgress
    found: DuplicateGroups
    rows: list[DuplicateRow]

    @property
    def compared(self) -> int:  # images with a signature (labelled ones)
        return self.found.compared

    @property
    def groups(self) -> int:
        return len(self.found.groups)

    @property
    def shown(self) -> int:
        return len({row.group for row in self.rows})

    def summary(self) -> str:
        """One line: what was compared and found, or why nothing could be."""
        job = self.job
        unfinished = "" if job.complete or job.finished else (
            f" (the job is not finished: {job.done:,} of {job.total:,} done)")
        if self.compared == 0:
            return f"no labelled image in job {job.id} to compare{unfinished}"
        if self.compared == 1:
            return f"1 labelled image in job {job.id}: nothing to compare it with"
        groups = f"{self.groups:,} group{'' if self.groups == 1 else 's'}"
        return (f"{groups} of near-duplicates, {self.found.images:,} images, among "
                f"{self.compared:,} labelled images{unfinished}")


def job_duplicates(store: JobStore, job_id: str, radius: int = RADIUS,
                   shown: int | None = None, out: Path | None = None) -> JobDuplicates:
    """Near-duplicate groups among a job's labelled images (JobNotFound for an unknown job),
    largest first, items in index order within each; rows for the first `shown` groups (all
    if None). With `out`, every group is also written there as CSV (CSV_FIELDS), from the
    same search."""
    job = store.require(job_id)
    signatures = store.signature_rows(job_id, job.total)
    found = find_groups(signatures, radius)
    if out is not None:
        _write_csv(_rows(store, job_id, found.groups, signatures), out)
    groups = found.groups if shown is None else found.groups[:shown]
    return JobDuplicates(job, found, list(_rows(store, job_id, groups, signatures)))


def _write_csv(rows: Iterator[DuplicateRow], out: Path) -> None:
    with out.open("w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(CSV_FIELDS)
        for row in rows:
            writer.writerow([row.group, row.size, row.path, row.label or "",
                             "" if row.confidence is None else row.confidence,
                             row.bits_from_first])


def _rows(store: JobStore, job_id: str, groups: list[list[int]], signatures: np.ndarray
          ) -> Iterator[DuplicateRow]:
    wanted = np.array(sorted(i for group in groups for i in group), dtype=np.int64)
    paths, labels, confidences = _columns(store, job_id, wanted)
    for number, group in enumerate(groups, 1):
        first = signatures[group[0]]
        for index in group:
            at = int(np.searchsorted(wanted, index))
            confidence = float(confidences[at])
            yield DuplicateRow(number, len(group), index, paths[at], labels[at] or None,
                               None if np.isnan(confidence) else confidence,
                               distance(first, signatures[index]))


def _columns(store: JobStore, job_id: str, wanted: np.ndarray
             ) -> tuple[list[str], list[str], np.ndarray]:
    """Path, label and confidence of each `wanted` item (sorted indices), as columns."""
    paths, labels = [""] * len(wanted), [""] * len(wanted)
    confidences = np.full(len(wanted), np.nan, dtype=np.float32)
    if len(wanted) <= LOOKUPS:
        for at, (_, item) in enumerate(store.items_at(job_id, wanted.tolist())):
            if item is not None:
                paths[at] = item.path
                if item.result is not None:
                    labels[at], confidences[at] = item.result.label, item.result.confidence
        return paths, labels, confidences
    fields, start = CsvFields(store.tables(job_id)[1]), 0
    for block in store.stored_blocks(job_id):
        first = int(np.searchsorted(wanted, start))
        last = int(np.searchsorted(wanted, start + len(block)))
        for at in range(first, last):
            path, stored, _ = block[int(wanted[at]) - start]
            paths[at] = path
            if stored:
                label, confidence, *_ = fields(stored)
                labels[at], confidences[at] = label, float(confidence)
        start += len(block)
    return paths, labels, confidences
