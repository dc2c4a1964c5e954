"""Pages of a job's items, filtered by class or confidence and sorted by path or confidence,
answered from the paging index (store/index.py) in a few round trips."""

from __future__ import annotations

from collections.abc import Sequence

from labeler.protocol import Item
from labeler.store.index import (
    FAILED_SCORE,
    SCALE,
    class_bands,
    class_scores,
    confidence_step,
    set_bits,
    step_of,
    step_score,
    without_bits,
)
from labeler.store.keys import bits_key, rank_key


class ConfidenceOrder:
    """The items of some score bands (`ranks`, store/index.py) in one order, failed first,
    then by (confidence, band, index), paged without reading the bands in full. With `below`,
    only the labelled items less sure than it; with `with_failed` False, no failed ones."""

    def __init__(self, redis, key: str, ranks: Sequence[int], below: float | None = None,
                 *, with_failed: bool = True) -> None:
        self.redis, self.key, self.ranks = redis, key, list(ranks)
        # Confidence steps in [0, top]; failed items only when no threshold is asked for.
        self.top = SCALE if below is None else confidence_step(below) - 1
        self.with_failed = with_failed and below is None

    def total(self) -> int:
        return self._failed() + self._at_most(self.top)

    def _failed(self) -> int:
        if not self.with_failed:
            return 0
        return int(self.redis.zcount(self.key, FAILED_SCORE, FAILED_SCORE))

    def _at_most(self, step: int) -> int:
        """Labelled items whose confidence step is <= `step`."""
        pipe = self.redis.pipeline()
        for r in self.ranks:
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
        for r in self.ranks:
            pipe.zcount(self.key, step_score(r, step), step_score(r, step))
        rows: list[str] = []
        for r, count in zip(self.ranks, pipe.execute(), strict=True):
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
        for r in self.ranks:
            pipe.zrangebyscore(self.key, step_score(r, step + 1), step_score(r, self.top),
                               start=0, num=limit, withscores=True)
        merged = sorted((step_of(int(s), r), r, m.decode())
                        for r, reply in zip(self.ranks, pipe.execute(), strict=True)
                        for m, s in reply)
        return [m for _, _, m in merged[:limit]]


class Paging:
    """The job store's paged reads (a part of labeler.store.JobStore). A reviewed item sits
    in its class's reviewed band (store/index.py): class queries read both bands, and
    `unreviewed` ones the first only."""

    def label_counts(self, job_id: str) -> dict[str, int]:
        """Items per class, reviewed labels counting (classes with none left out), and
        failed, from the paging index."""
        classes, _ = self.tables(job_id)
        pipe = self.redis.pipeline()
        for r in range(len(classes)):
            for band in class_bands(r, len(classes)):
                pipe.zcount(rank_key(job_id), *class_scores(band))
        pipe.zcount(rank_key(job_id), FAILED_SCORE, FAILED_SCORE)
        *counts, failed = pipe.execute()
        found = {name: counts[2 * r] + counts[2 * r + 1] for r, name in enumerate(classes)}
        found = {name: n for name, n in found.items() if n}
        return {**found, "failed": failed} if failed else found

    def count_below(self, job_id: str, below: float, label: str | None = None) -> int:
        """Labelled items not reviewed yet (of class `label`) whose confidence is under
        `below`: those that still need a look."""
        classes, _ = self.tables(job_id)
        ranks = [classes.index(label)] if label in classes else [] if label else range(
            len(classes))
        pipe = self.redis.pipeline()
        for r in ranks:
            pipe.zcount(rank_key(job_id), *class_scores(r, below))
        return int(sum(pipe.execute()))

    def page(self, job_id: str, label: str | None = None, below: float | None = None,
             sort: str = "path", offset: int = 0, limit: int = 200, *,
             unreviewed: bool = False) -> tuple[int, list[tuple[int, Item]]]:
        """How many items match, and those at [offset, offset + limit): `label` a class or
        "failed", `below` labelled items less sure than it, `unreviewed` none a person has
        reviewed, `sort` path, confidence or -confidence (failed items, which have none,
        first when least sure comes first)."""
        classes, models = self.tables(job_id)
        if label is not None and label != "failed" and label not in classes:
            return 0, []
        if label == "failed" and below is not None:
            return 0, []
        if label == "failed" or (sort == "path" and below is None):
            matched, indices = self._by_bitmap(job_id, classes, label, offset, limit,
                                               unreviewed)
        else:
            if label is None:
                ranks = range(len(classes) if unreviewed else 2 * len(classes))
            else:
                ranks = class_bands(classes.index(label), len(classes))[:1 if unreviewed else 2]
            order = ConfidenceOrder(self.redis, rank_key(job_id), ranks, below,
                                    with_failed=label is None)
            matched, indices = self._ordered(order, rank_key(job_id), sort, offset, limit)
        return matched, [(i, item) for i, item in self.items_at(job_id, indices, models)
                         if item is not None]

    def _by_bitmap(self, job_id, classes, label, offset, limit, unreviewed
                   ) -> tuple[int, list[int]]:
        which = "failed" if label == "failed" else "done" if label is None else \
            classes.index(label)
        pipe = self.redis.pipeline()
        pipe.get(bits_key(job_id, which))
        pipe.get(bits_key(job_id, "reviewed"))
        chosen, reviewed = pipe.execute()
        indices = set_bits(chosen or b"")
        if unreviewed and reviewed:
            indices = without_bits(indices, reviewed)
        return len(indices), [int(i) for i in indices[offset:offset + limit]]

    def _ordered(self, order: ConfidenceOrder, key: str, sort: str, offset: int, limit: int
                 ) -> tuple[int, list[int]]:
        total = order.total()
        if sort == "path":
            every = sorted(int(m) for r in order.ranks
                           for m in self.redis.zrangebyscore(key, step_score(r, 0),
                                                             step_score(r, order.top)))
            return total, every[offset:offset + limit]
        if sort == "confidence":
            return total, [int(m) for m in order.page(offset, limit)]
        start = max(0, total - offset - limit)
        rows = order.page(start, total - offset - start) if offset < total else []
        return total, [int(m) for m in reversed(rows)]
