"""Filtering, sorting and paging a job's items for the page's grid."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass

from labeler.protocol import Item
from labeler.results_io import item_matches

SORTS = ("path", "confidence", "-confidence")


@dataclass(frozen=True)
class ItemQuery:
    label: str | None = None  # a class name, or "failed"
    below: float | None = None  # only confidences under this ("needs review")
    sort: str = "path"
    offset: int = 0
    limit: int = 200


def item_row(item: Item) -> dict:
    if item.result is None:
        return {"path": item.path, "label": None, "confidence": None, "top_k": [],
                "error": item.error}
    return {"path": item.path, **item.result.as_dict(), "error": None}


def select_items(items: Iterable[Item], query: ItemQuery) -> dict:
    """The page of rows the query asks for, how many matched, and label counts over the
    whole job (for the filter menu)."""
    items = list(items)
    counts = Counter(i.result.label if i.result else "failed" for i in items)
    review = 0 if query.below is None else sum(
        item_matches(i.result, below=query.below) for i in items)
    matched = [i for i in items if item_matches(i.result, query.label, query.below)]
    if query.sort in ("confidence", "-confidence"):
        # Failed items have no confidence: they go first when looking for the least sure.
        matched.sort(key=lambda i: i.result.confidence if i.result else -1.0,
                     reverse=query.sort.startswith("-"))
    return {"matched": len(matched), "total": len(items), "labels": dict(sorted(counts.items())),
            "needs_review": review,
            "items": [item_row(i) for i in matched[query.offset:query.offset + query.limit]]}
