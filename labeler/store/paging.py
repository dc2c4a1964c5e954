"""Pages of a job's items, filtered by class or confidence and sorted by path or confidence,
answered from the paging index (store/index.py) in a few round trips."""

from __future__ import annotations

from labeler.protocol import Item
from labeler.store.index import (
    FAILED_SCORE,
    SCALE,
    class_scores,
    confidence_step,
    set_bits,
    step_of,
    step_score,
)
from labeler.store.keys import bits_key, rank_key


class ConfidenceOrder:
    """All items in one order, failed first, then by (confidence, class rank, index), paged
    without reading the classes' ranges in full. With `below`, only the labelled items less
    sure than it."""

    def __init__(self, redis, key: str, classes: int, below: float | None = None) -> None:
        self.redis, self.key, self.classes = redis, key, classes
        # Confidence steps in [0, top]; failed items only when no threshold is asked for.
        self.top = SCALE if below is None else confidence_step(below) - 1
        self.with_failed = below is None

    def total(self) -> int:
        return self._failed() + self._at_most(self.top)

    def _failed(self) -> int:
        if not self.with_failed:
            return 0
        return int(self.redis.zcount(self.key, FAILED_SCORE, FAILED_SCORE))

    def _at_most(self, step: int) -> int:
        """Labelled items whose confidence step is <= `step`."""
        pipe = self.redis.pipeline()
        for r in range(self.classes):
            pipe.zcount(self.key, step_score(r, 0), step_score(r, step))
        return int(sum(pipe.execute()))

    def page(self, offset: int, limit: int) -> list[str]:
        """The members (item indices) at positions [offset, offset + limit)."""
        rows: list[str] = []
        failed = self._failed()
        if offset < failed:
            rows = [m.decode() for m in self.redis.zrangebyscore(
                self.key, FAILED_SCORE, FAILED_SCORE, start=offset, num=limit)]
            offset, limit = 0, limit - len(rows)
        else:
            offset -= failed
        if limit <= 0 or offset >= self._at_most(self.top):
            return rows
        step = self._step_at(offset)
        skip = offset - (self._at_most(step - 1) if step > 0 else 0)
        ties = self._ties(step, skip, limit)
        rest = self._above(step, limit - len(ties)) if len(ties) < limit else []
        return rows + ties + rest

    def _step_at(self, position: int) -> int:
        """The confidence step of the labelled item at `position`: the smallest step with
        more than `position` items at or below it (a bisection, ~24 pipelined counts)."""
        low, high = -1, self.top  # _at_most(low) <= position < _at_most(high)
        while high - low > 1:
            middle = (low + high) // 2
            if self._at_most(middle) > position:
                high = middle
            else:
                low = middle
        return high

    def _ties(self, step: int, skip: int, limit: int) -> list[str]:
        """Up to `limit` items at exactly `step`, by class rank then index, after `skip`."""
        pipe = self.redis.pipeline()
        for r in range(self.classes):
            pipe.zcount(self.key, step_score(r, step), step_score(r, step))
        rows: list[str] = []
        for r, count in enumerate(pipe.execute()):
            if skip >= count:
                skip -= count
                continue
            at = step_score(r, step)
            rows += [m.decode() for m in self.redis.zrangebyscore(
                self.key, at, at, start=skip, num=limit - len(rows))]
            skip = 0
            if len(rows) >= limit:
                break
        return rows

    def _above(self, step: int, limit: int) -> list[str]:
        """What follows the ties at `step`: the first items above it, merged by class."""
        pipe = self.redis.pipeline()
        for r in range(self.classes):
            pipe.zrangebyscore(self.key, step_score(r, step + 1), step_score(r, self.top),
                               start=0, num=limit, withscores=True)
        merged = sorted((step_of(int(s), r), r, m.decode())
                        for r, reply in enumerate(pipe.execute()) for m, s in reply)
        return [m for _, _, m in merged[:limit]]


class Paging:
    """The job store's paged reads (a part of labeler.store.JobStore)."""

    def label_counts(self, job_id: str) -> dict[str, int]:
        """Items per class (those with none left out) and failed, from the paging index."""
        classes, _ = self.tables(job_id)
        pipe = self.redis.pipeline()
        for r in range(len(classes)):
            pipe.zcount(rank_key(job_id), *class_scores(r))
        pipe.zcount(rank_key(job_id), FAILED_SCORE, FAILED_SCORE)
        *counts, failed = pipe.execute()
        found = {name: n for name, n in zip(classes, counts, strict=True) if n}
        return {**found, "failed": failed} if failed else found

    def count_below(self, job_id: str, below: float, label: str | None = None) -> int:
        """Labelled items (of class `label`) whose confidence is under `below`."""
        classes, _ = self.tables(job_id)
        ranks = [classes.index(label)] if label in classes else [] if label else range(
            len(classes))
        pipe = self.redis.pipeline()
        for r in ranks:
            pipe.zcount(rank_key(job_id), *class_scores(r, below))
        return int(sum(pipe.execute()))

    def page(self, job_id: str, label: str | None = None, below: float | None = None,
             sort: str = "path", offset: int = 0, limit: int = 200
             ) -> tuple[int, list[tuple[int, Item]]]:
        """How many items match, and those at [offset, offset + limit): `label` a class or
        "failed", `below` labelled items less sure than it, `sort` path, confidence or
        -confidence (failed items, which have none, first when least sure comes first)."""
        classes, models = self.tables(job_id)
        if label is not None and label != "failed" and label not in classes:
            return 0, []
        if label == "failed" and below is not None:
            return 0, []
        if label == "failed" or (sort == "path" and below is None):
            matched, indices = self._by_bitmap(job_id, classes, label, offset, limit)
        elif label is None:
            matched, indices = self._all_classes(job_id, len(classes), below, sort, offset,
                                                 limit)
        else:
            matched, indices = self._one_class(job_id, classes.index(label), below, sort,
                                               offset, limit)
        return matched, [(i, item) for i, item in self.items_at(job_id, indices, models)
                         if item is not None]

    def _by_bitmap(self, job_id, classes, label, offset, limit) -> tuple[int, list[int]]:
        which = "failed" if label == "failed" else "done" if label is None else \
            classes.index(label)
        indices = set_bits(self.redis.get(bits_key(job_id, which)) or b"")
        return len(indices), [int(i) for i in indices[offset:offset + limit]]

    def _all_classes(self, job_id, classes, below, sort, offset, limit
                     ) -> tuple[int, list[int]]:
        key = rank_key(job_id)
        order = ConfidenceOrder(self.redis, key, classes, below)
        total = order.total()
        if sort == "path":
            every = sorted(int(m) for r in range(classes)
                           for m in self.redis.zrangebyscore(key, *class_scores(r, below)))
            return total, every[offset:offset + limit]
        if sort == "confidence":
            return total, [int(m) for m in order.page(offset, limit)]
        start = max(0, total - offset - limit)
        rows = order.page(start, total - offset - start) if offset < total else []
        return total, [int(m) for m in reversed(rows)]

    def _one_class(self, job_id, rank, below, sort, offset, limit) -> tuple[int, list[int]]:
        key = rank_key(job_id)
        low, high = class_scores(rank, below)
        total = int(self.redis.zcount(key, low, high))
        if sort == "path":
            return total, sorted(int(m) for m in self.redis.zrangebyscore(key, low, high)
                                 )[offset:offset + limit]
        if sort == "confidence":
            members = self.redis.zrangebyscore(key, low, high, start=offset, num=limit)
        else:
            members = self.redis.zrevrangebyscore(key, high, low, start=offset, num=limit)
        return total, [int(m) for m in members]
