"""Writing job results as CSV, JSONL or Parquet, chosen by the file's extension, to standard
output, a file or a bucket (labeler.destinations)."""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Callable, Iterator
from pathlib import Path

from labeler.destinations import open_destination
from labeler.protocol import LabelResult
from labeler.store import JobStore
from labeler.store.result_text import CsvFields

_NEEDS_QUOTES = re.compile(r'[,"\r\n]')
CSV_HEADER = ["path", "label", "confidence", "error", "margin", "top_k", "model"]
FORMATS = (".csv", ".jsonl", ".parquet")


def format_for(path: str) -> str:
    suffix = Path(path).suffix.lower()
    if path == "-":
        return ".csv"
    if suffix not in FORMATS:
        raise ValueError(f"cannot tell the format of {path}: use a .csv, .jsonl or .parquet "
                         "file name")
    return suffix


def item_matches(result: LabelResult | None, label: str | None = None,
                 below: float | None = None) -> bool:
    """The one filter behind `labeler results` and the web page's grid: `label` is a class
    name or "failed"; `below` keeps labelled items less sure than it (the ones to review)."""
    if label == "failed":
        return result is None
    if result is None:
        return label is None and below is None
    if label and result.label != label:
        return False
    return below is None or result.confidence < below


def iter_result_text(items, kind: str, block_rows: int = 1000) -> Iterator[tuple[str, int]]:
    """The file's text in blocks of `block_rows` rows (with the row count of each), so a
    million-row result streams instead of being built in memory."""
    buffer, rows = io.StringIO(), 0
    writer = csv.writer(buffer)
    if kind == ".csv":
        writer.writerow(CSV_HEADER)
    for path, result, error in items:
        if kind == ".csv":
            writer.writerow(csv_row(path, result, error))
        else:
            fields = result.as_dict() if result else LabelResult.empty_dict()
            row = {"path": path, **fields, "error": error}
            buffer.write(json.dumps(row) + "\n")
        rows += 1
        if rows == block_rows:
            yield buffer.getvalue(), rows
            buffer.seek(0)
            buffer.truncate()
            rows = 0
    if buffer.tell() or rows:
        yield buffer.getvalue(), rows


def stored_row_filter(label: str | None = None, below: float | None = None
                      ) -> Callable[[tuple | None, bytes | None], bool]:
    """`item_matches` over stored rows: keeps(fields, error), fields starting with the label
    and the confidence (as CsvFields gives them; None for a failed item)."""
    def keeps(fields: tuple | None, error: bytes | None) -> bool:
        if fields is None:
            return error is not None and label in (None, "failed") and below is None
        return label in (None, fields[0]) and (below is None or float(fields[1]) < below)
    return keeps


def job_result_text(store: JobStore, job_id: str, kind: str, label: str | None = None,
                    below: float | None = None) -> Iterator[tuple[str, int]]:
    """A job's results file as text blocks (with their row counts), filtered as
    `item_matches` does. CSV is written straight from the stored results, a block of rows
    per round trip, without a LabelResult for each."""
    if kind != ".csv":
        items = (i for i in store.iter_items(job_id) if item_matches(i.result, label, below))
        yield from iter_result_text(items, kind)
        return
    classes, models = store.tables(job_id)
    fields_of = CsvFields(models)
    keeps = stored_row_filter(label, below)
    # Rows with nothing to quote are joined by hand, the rest go through the csv module.
    plain_tables = not any(_NEEDS_QUOTES.search(x) for x in (*classes, *models))
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(CSV_HEADER)
    for block in store.stored_blocks(job_id):
        rows = 0
        for path, stored, error in block:
            if stored is not None:
                f = fields_of(stored)
                if not keeps(f, None):
                    continue
                if plain_tables and not _NEEDS_QUOTES.search(path):
                    buffer.write(f"{path},{f[0]},{f[1]},,{f[2]},{f[3]},{f[4]}\r\n")
                else:
                    writer.writerow((path, f[0], f[1], "", *f[2:]))
            elif keeps(None, error):
                writer.writerow((path, "", "", error.decode(), "", "", ""))
            else:
                continue
            rows += 1
        yield buffer.getvalue(), rows
        buffer.seek(0)
        buffer.truncate()


def write_job_results(store: JobStore, job_id: str, path: str, label: str | None = None,
                      below: float | None = None, kind: str | None = None) -> int:
    """Write a job's results to `path` ('-' for standard output, or a bucket URL) as `kind`
    (".csv", ".jsonl" or ".parquet"; default: from the name); returns the row count."""
    kind = kind or format_for(path)
    if kind == ".parquet":
        from labeler.results_parquet import write_parquet

        with open_destination(path, binary=True) as sink:
            return write_parquet(store, job_id, sink, stored_row_filter(label, below))
    with open_destination(path) as fh:
        count = 0
        for text, rows in job_result_text(store, job_id, kind, label, below):
            fh.write(text)
            count += rows
    return count


def csv_row(path: str, result: LabelResult | None, error: str | None) -> list:
    if result is None:
        return [path, "", "", error or "", "", "", ""]
    # Probabilities as stored (7 significant digits): a small one reads 1.2e-05, not 0.0000;
    # the same text job_result_text writes from the stored results.
    top_k = ";".join(f"{label}:{p}" for label, p in result.top_k)
    return [path, result.label, str(result.confidence), "", str(result.margin), top_k,
            result.model]
