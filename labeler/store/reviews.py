"""People's reviews of a job's labels: a correction or an acceptance of one item, who and when,
and "accept every label above a confidence" in one action (a part of labeler.store.JobStore).

A reviewed item moves to its class's reviewed band of the paging index (store/index.py),
its confidence kept, and into `bits:reviewed`; a corrected one also into its new class's
bitmap. Every write is keyed by item, so a repeated review overwrites."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from dataclasses import dataclass

from labeler.errors import UsageError
from labeler.store.index import (
    SCALE,
    STRIDE,
    mark_bits,
    score,
    set_bits,
    step_score,
)
from labeler.store.keys import (
    accepted_bits_key,
    accepts_key,
    bits_key,
    rank_key,
    reviews_key,
)

BLOCK = 10_000  # items moved per round trip by an "accept above"


@dataclass(frozen=True)
class Review:
    """One item's review: `label` (the reviewed one), `model` (the model's), who and when."""

    index: int
    label: str
    model: str
    by: str
    at: float

    @property
    def source(self) -> str:
        return "corrected" if self.label != self.model else "accepted"

    def as_dict(self) -> dict:
        return {"label": self.label, "model": self.model, "by": self.by, "at": self.at,
                "source": self.source}


class Reviews:
    """The job store's reviews (a part of labeler.store.JobStore)."""

    def review_items(self, job_id: str, labels: dict[int, str], user: str) -> int:
        """Record `user`'s label for each item (the model's own label: accepted; another:
        corrected). Items without a result (pending, failed) are left alone; how many were
        recorded."""
        classes, _ = self.tables(job_id)
        unknown = set(labels.values()) - set(classes)
        if unknown:
            raise UsageError(f"not classes of this job: {', '.join(sorted(unknown))}")
        indices = list(labels)
        scores = self.redis.zmscore(rank_key(job_id), indices) if indices else []
        earlier = self._recorded(job_id, indices)
        pipe = self.redis.pipeline()
        now, recorded = time.time(), []
        for index, current in zip(indices, scores, strict=True):
            if current is None or current < 0:
                continue
            band, step = divmod(int(current), STRIDE)
            was = classes[band % len(classes)]
            model = earlier[index]["model"] if index in earlier else was
            new = classes.index(labels[index])
            pipe.zadd(rank_key(job_id), {index: step_score(len(classes) + new, step)})
            if labels[index] != was:
                mark_bits(pipe, bits_key(job_id, classes.index(was)), [index], 0)
                mark_bits(pipe, bits_key(job_id, new), [index], 1)
            pipe.hset(reviews_key(job_id), str(index), json.dumps(
                {"label": labels[index], "model": model, "by": user, "at": round(now, 3)}))
            recorded.append(index)
        mark_bits(pipe, bits_key(job_id, "reviewed"), recorded, 1)
        pipe.expire(reviews_key(job_id), self.ttl)
        pipe.expire(bits_key(job_id, "reviewed"), self.ttl)
        pipe.execute()
        return len(recorded)

    def acceptable(self, job_id: str, above: float) -> int:
        """Labelled items not reviewed yet whose confidence is at least `above`."""
        classes, _ = self.tables(job_id)
        pipe = self.redis.pipeline()
        for r in range(len(classes)):
            pipe.zcount(rank_key(job_id), score(r, above), step_score(r, SCALE))
        return int(sum(pipe.execute()))

    def accept_above(self, job_id: str, above: float, user: str) -> int:
        """Accept, as `user`, the model's label of every item not reviewed yet whose
        confidence is at least `above`: one action, recorded with its count."""
        classes, _ = self.tables(job_id)
        action = int(self.redis.rpush(accepts_key(job_id), "{}")) - 1
        accepted = accepted_bits_key(job_id, action)
        count = 0
        for r in range(len(classes)):
            low, high = score(r, above), step_score(r, SCALE)
            # Each block leaves the range as it moves, so the next is at its start again.
            while block := self.redis.zrangebyscore(rank_key(job_id), low, high, start=0,
                                                    num=BLOCK, withscores=True):
                moved = {m: int(s) + len(classes) * STRIDE for m, s in block}
                indices = [int(m) for m in moved]
                pipe = self.redis.pipeline()
                pipe.zadd(rank_key(job_id), moved)
                mark_bits(pipe, bits_key(job_id, "reviewed"), indices, 1)
                mark_bits(pipe, accepted, indices, 1)
                pipe.execute()
                count += len(indices)
        record = {"by": user, "at": round(time.time(), 3), "above": above, "count": count}
        pipe = self.redis.pipeline()
        pipe.lset(accepts_key(job_id), action, json.dumps(record))
        for key in (accepts_key(job_id), accepted, bits_key(job_id, "reviewed")):
            pipe.expire(key, self.ttl)
        pipe.execute()
        return count

    def review_counts(self, job_id: str) -> dict[str, int]:
        """Items reviewed, and of those corrected."""
        pipe = self.redis.pipeline()
        pipe.bitcount(bits_key(job_id, "reviewed"))
        pipe.hvals(reviews_key(job_id))
        reviewed, records = pipe.execute()
        corrected = sum(1 for raw in records if _corrected(json.loads(raw)))
        return {"reviewed": int(reviewed), "corrected": corrected}

    def reviews_of(self, job_id: str, indices: list[int]) -> dict[int, Review]:
        """The reviews of those of `indices` that have one."""
        if not indices:
            return {}
        found = {i: _review(i, r) for i, r in self._recorded(job_id, indices).items()}
        rest = [i for i in indices if i not in found]
        if rest:
            found.update(self._accepted(job_id, rest))
        return found

    def iter_reviews(self, job_id: str) -> Iterator[Review]:
        """Every review of the job, in index order."""
        reviewed = set_bits(self.redis.get(bits_key(job_id, "reviewed")) or b"").tolist()
        for start in range(0, len(reviewed), BLOCK):
            block = reviewed[start:start + BLOCK]
            found = self.reviews_of(job_id, block)
            yield from (found[i] for i in block if i in found)

    def _recorded(self, job_id: str, indices: list[int]) -> dict[int, dict]:
        if not indices:
            return {}
        raw = self.redis.hmget(reviews_key(job_id), [str(i) for i in indices])
        return {i: json.loads(r) for i, r in zip(indices, raw, strict=True) if r}

    def _accepted(self, job_id: str, indices: list[int]) -> dict[int, Review]:
        """Reviews of items accepted by an "accept above" action: each action's bitmap read
        once over the indices' span (not a bit at a time), the latest action winning."""
        actions = [json.loads(a) for a in self.redis.lrange(accepts_key(job_id), 0, -1)]
        if not actions or not indices:
            return {}
        first, last = min(indices) >> 3, max(indices) >> 3
        pipe = self.redis.pipeline()
        for n in range(len(actions)):
            pipe.getrange(accepted_bits_key(job_id, n), first, last)
        wanted, by_action = set(indices), {}
        for n, raw in enumerate(pipe.execute()):
            for index in (set_bits(raw) + first * 8).tolist():
                if index in wanted:
                    by_action[index] = actions[n]
        if not by_action:
            return {}
        classes, _ = self.tables(job_id)
        accepted = list(by_action)
        found = {}
        for index, current in zip(accepted, self.redis.zmscore(rank_key(job_id), accepted),
                                  strict=True):
            if current is not None and current >= 0:
                label = classes[int(current) // STRIDE % len(classes)]
                action = by_action[index]
                found[index] = Review(index, label, label, action.get("by", ""),
                                      action.get("at", 0.0))
        return found


def _review(index: int, record: dict) -> Review:
    return Review(index, record["label"], record["model"], record["by"], record["at"])


def _corrected(record: dict) -> bool:
    return record.get("label") != record.get("model")

