"""A job's near-duplicate groups, with the paths and labels a reader wants: what
`labeler duplicates JOB` prints and writes and what the web page shows."""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

from labeler.duplicates import RADIUS, find_groups
from labeler.protocol import Item
from labeler.signature import distance
from labeler.store import JobProgress, JobStore
from labeler.store.result_text import decode_result

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
    job: JobProgress
    compared: int  # images with a signature (labelled ones)
    rows: list[DuplicateRow]

    @property
    def groups(self) -> int:
        return len({row.group for row in self.rows})

    def summary(self) -> str:
        """One line: what was compared and found, or why nothing could be."""
        unfinished = "" if self.job.done >= self.job.total else (
            f" (the job is not finished: {self.job.done:,} of {self.job.total:,} done)")
        if self.compared == 0:
            return f"no labelled image in job {self.job.id} to compare{unfinished}"
        if self.compared == 1:
            return f"1 labelled image in job {self.job.id}: nothing to compare it with"
        groups = f"{self.groups:,} group{'' if self.groups == 1 else 's'}"
        return (f"{groups} of near-duplicates, {len(self.rows):,} images, among "
                f"{self.compared:,} labelled images{unfinished}")

    def write_csv(self, out: Path) -> None:
        with out.open("w", newline="") as fh:
            writer = csv.writer(fh)
            writer.writerow(CSV_FIELDS)
            for row in self.rows:
                writer.writerow([row.group, row.size, row.path, row.label or "",
                                 "" if row.confidence is None else row.confidence,
                                 row.bits_from_first])


def job_duplicates(store: JobStore, job_id: str, radius: int = RADIUS) -> JobDuplicates:
    """Near-duplicate groups among a job's labelled images (JobNotFound for an unknown job);
    groups largest first, items in index order within each."""
    job = store.require(job_id)
    signatures = store.signature_rows(job_id, job.total)
    found = find_groups(signatures, radius)
    wanted = [index for group in found.groups for index in group]
    items = _items(store, job_id, wanted)
    rows: list[DuplicateRow] = []
    for number, group in enumerate(found.groups, 1):
        first = signatures[group[0]]
        for index in group:
            item = items.get(index)
            result = item.result if item else None
            rows.append(DuplicateRow(
                number, len(group), index, item.path if item else "",
                result.label if result else None, result.confidence if result else None,
                distance(first, signatures[index])))
    return JobDuplicates(job, found.compared, rows)


def _items(store: JobStore, job_id: str, indices: list[int]) -> dict[int, Item]:
    models = store.tables(job_id)[1]
    if len(indices) <= LOOKUPS:
        return {i: item for i, item in store.items_at(job_id, indices, models) if item}
    wanted, items, start = set(indices), {}, 0
    for block in store.stored_blocks(job_id):
        for offset, (path, stored, error) in enumerate(block):
            if start + offset in wanted:
                result = decode_result(stored, models) if stored else None
                items[start + offset] = Item(path, result, error.decode() if error else None)
        start += len(block)
    return items
