"""Filtering, sorting and paging a job's items for the page's grid, answered by the job
store's paging index (a page of a million-item job costs a few round trips)."""

from __future__ import annotations

from dataclasses import dataclass

from labeler.protocol import Item, LabelResult
from labeler.store import JobStore, Review

SORTS = ("path", "confidence", "-confidence")


@dataclass(frozen=True)
class ItemQuery:
    label: str | None = None  # a class name, or "failed"
    below: float | None = None  # only confidences under this ("needs review")
    sort: str = "path"
    offset: int = 0
    limit: int = 200
    unreviewed: bool = False  # only items nobody has reviewed yet


def item_row(index: int, item: Item, review: Review | None = None) -> dict:
    """An item as the page shows it; `review` a person's decision on it, if any."""
    reviewed = {"review": review.as_dict() if review else None}
    if item.result is None:
        return {"index": index, "path": item.path, **LabelResult.empty_dict(), "top_k": [],
                "error": item.error, **reviewed}
    return {"index": index, "path": item.path, **item.result.as_dict(), "error": None,
            **reviewed}


def select_items(store: JobStore, job_id: str, query: ItemQuery, total: int) -> dict:
    """The page of rows the query asks for, how many matched, label counts over the whole
    job (for the filter menu) and how many labelled items are below the threshold."""
    matched, page = store.page(job_id, query.label, query.below, query.sort, query.offset,
                               query.limit, unreviewed=query.unreviewed)
    review = 0 if query.below is None else store.count_below(job_id, query.below)
    reviews = store.reviews_of(job_id, [i for i, _ in page])
    return {"matched": matched, "total": total, "classes": store.tables(job_id)[0],
            "labels": dict(sorted(
        store.label_counts(job_id).items())), "needs_review": review,
        "items": [item_row(i, item, reviews.get(i)) for i, item in page]}
