"""Filtering, sorting and paging a job's items for the page's grid."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass

from labeler.results_io import item_matches

SORTS = ("path", "confidence", "-confidence")


@dataclass(frozen=True)
class ItemQuery:
    label: str | None = None  # a class name, or "failed"
    below: float | None = None  # only confidences under this ("needs review")
    sort: str = "path"
    offset: int = 0
    limit: int = 200


def item_row(path: str, result: dict | None, error: str | None) -> dict:
    if result is None:
        return {"path": path, "label": None, "confidence": None, "top_k": [], "error": error}
    return {"path": path, "label": result["label"], "confidence": result["confidence"],
            "margin": result.get("margin"), "top_k": result.get("top_k", []),
            "model": result.get("model"), "error": None}


def select_items(items: Iterable[tuple[str, dict | None, str | None]], query: ItemQuery) -> dict:
    """The page of rows the query asks for, how many matched, and label counts over the
    whole job (for the filter menu)."""
    rows = [item_row(*item) for item in items]
    counts = Counter(r["label"] or "failed" for r in rows)
    # A row carries its result's label and confidence; a failed one has no label.
    review = 0 if query.below is None else sum(
        item_matches(r if r["label"] else None, below=query.below) for r in rows)
    matched = [r for r in rows
               if item_matches(r if r["label"] else None, query.label, query.below)]
    if query.sort in ("confidence", "-confidence"):
        # Failed items have no confidence: they go first when looking for the least sure.
        matched.sort(key=lambda r: -1.0 if r["confidence"] is None else r["confidence"],
                     reverse=query.sort.startswith("-"))
    return {"matched": len(matched), "total": len(rows), "labels": dict(sorted(counts.items())),
            "needs_review": review,
            "items": matched[query.offset:query.offset + query.limit]}
