"""Writing job results as CSV or JSONL, chosen by the file's extension."""

from __future__ import annotations

import csv
import json
import sys
from collections.abc import Iterable
from pathlib import Path
from typing import TextIO

CSV_HEADER = ["path", "label", "confidence", "error", "margin", "top_k", "model"]
FORMATS = (".csv", ".jsonl")


def format_for(path: str) -> str:
    suffix = Path(path).suffix.lower()
    if path == "-":
        return ".csv"
    if suffix not in FORMATS:
        raise ValueError(f"cannot tell the format of {path}: use a .csv or .jsonl file name")
    return suffix


def write_results(items: Iterable[tuple[str, dict | None, str | None]], path: str) -> int:
    """Write (path, result, error) rows to `path` ('-' for stdout); returns the row count."""
    kind = format_for(path)
    if path == "-":
        return write_results_to(items, kind, sys.stdout)
    with open(path, "w", newline="", encoding="utf-8") as fh:
        return write_results_to(items, kind, fh)


def write_results_to(items, kind: str, fh: TextIO) -> int:
    count = 0
    if kind == ".csv":
        writer = csv.writer(fh)
        writer.writerow(CSV_HEADER)
        for path, result, error in items:
            writer.writerow(csv_row(path, result, error))
            count += 1
    else:
        for path, result, error in items:
            row = {"path": path, **(result or {"label": None, "confidence": None}), "error": error}
            fh.write(json.dumps(row) + "\n")
            count += 1
    return count


def csv_row(path: str, result: dict | None, error: str | None) -> list:
    if result is None:
        return [path, "", "", error or "", "", "", ""]
    top_k = ";".join(f"{label}:{p:.4f}" for label, p in result.get("top_k", []))
    return [path, result["label"], f"{result['confidence']:.6f}", "",
            f"{result.get('margin', 0):.6f}", top_k, result.get("model", "")]
