"""Filtering, sorting and paging a job's items for the page's grid, answered by the job
store's paging index (a page of a million-item job costs a few round trips)."""

from __future__ import annotations

from dataclasses import dataclass

from labeler.protocol import Item, LabelResult
from labeler.store import JobStore

SORTS = ("path", "confidence", "-confidence")


@dataclass(frozen=True)
class ItemQuery:
    label: str | None = None  # a class name, or "failed"
    below: float | None = None  # only confidences under this ("needs review")
    sort: str = "path"
    offset: int = 0
    limit: int = 200


def item_row(index: int, item: Item) -> dict:
    if item.result is None:
        return {"index": index, "path": item.path, **LabelResult.empty_dict(), "top_k": [],
                "error": item.error}
    return {"index": index, "path": item.path, **item.result.as_dict(), "error": None}


def select_items(store: JobStore, job_id: str, query: ItemQuery, total: int) -> dict:
    """The page of rows the query asks for, how many matched, label counts over the whole
    job (for the filter menu) and how many labelled items are below the threshold."""
    matched, page = store.page(job_id, query.label, query.below, query.sort, query.offset,
                               query.limit)
    review = 0 if query.below is None else store.count_below(job_id, query.below)
    return {"matched": matched, "total": total, "labels": dict(sorted(
        store.label_counts(job_id).items())), "needs_review": review,
        "items": [item_row(i, item) for i, item in page]}
