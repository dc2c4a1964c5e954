"""Writing job results as CSV or JSONL, chosen by the file's extension."""

from __future__ import annotations

import csv
import io
import json
import sys
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import TextIO

from labeler.protocol import Item, LabelResult

CSV_HEADER = ["path", "label", "confidence", "error", "margin", "top_k", "model"]
FORMATS = (".csv", ".jsonl")


def format_for(path: str) -> str:
    suffix = Path(path).suffix.lower()
    if path == "-":
        return ".csv"
    if suffix not in FORMATS:
        raise ValueError(f"cannot tell the format of {path}: use a .csv or .jsonl file name")
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


def write_results(items: Iterable[Item], path: str) -> int:
    """Write (path, result, error) rows to `path` ('-' for stdout); returns the row count."""
    kind = format_for(path)
    if path == "-":
        return write_results_to(items, kind, sys.stdout)
    with open(path, "w", newline="", encoding="utf-8") as fh:
        return write_results_to(items, kind, fh)


def write_results_to(items, kind: str, fh: TextIO) -> int:
    """Write rows as `kind` ('.csv' or '.jsonl') to an open text file; returns the row count."""
    count = 0
    for block, rows in iter_result_text(items, kind):
        fh.write(block)
        count += rows
    return count


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
            fields = result.as_dict() if result else {"label": None, "confidence": None}
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


def csv_row(path: str, result: LabelResult | None, error: str | None) -> list:
    if result is None:
        return [path, "", "", error or "", "", "", ""]
    # Four significant digits: a small probability reads 1.2e-05, not a rounded 0.0000.
    top_k = ";".join(f"{label}:{p:.4g}" for label, p in result.top_k)
    return [path, result.label, f"{result.confidence:.6f}", "", f"{result.margin:.6f}", top_k,
            result.model]
