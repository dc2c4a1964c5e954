"""A job's items, indexed for paging a million of them: every query the web page and the CLI
make answers from these structures in a few round trips, never by reading every item.

An item is known by its index, its position in the job's path list (sorted by path within
each submission). With its result the job store writes, in the same round trip:

    labeler:job:{id}:rank          zset    index -> class rank x 10^8 + confidence x 10^7
                                           (failed: -1); whole numbers, so ties are exact
    labeler:job:{id}:bits:{rank}   bitmap  bit index set: labelled with the class of that rank
    labeler:job:{id}:bits:failed   bitmap  bit index set: failed
    labeler:job:{id}:bits:done     bitmap  bit index set: labelled or failed

"Class X by confidence" is then a score range, "class X by path" the set bits of a bitmap,
counts are BITCOUNTs and ZCOUNTs, and the order of all items by confidence is merged from
the class ranges after a bisection on the confidence finds where a page starts.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from labeler.protocol import LabelResult

if TYPE_CHECKING:
    import numpy as np

SCALE = 10**7  # confidence steps: what 7 significant digits of a top-1 probability need
STRIDE = 10 * SCALE  # one class's range of scores
FAILED_SCORE = -1


def score(rank: int, confidence: float) -> int:
    return rank * STRIDE + round(confidence * SCALE)


def set_bits(bitmap: bytes) -> np.ndarray:
    """Indices of the set bits of a Redis bitmap (bit 0 is the high bit of byte 0)."""
    import numpy as np  # loaded by what reads or writes bitmaps, not by `labeler status`

    return np.flatnonzero(np.unpackbits(np.frombuffer(bitmap, dtype=np.uint8)))


def bit_runs(indices, gap: int = 64) -> list[tuple[int, bytes]]:
    """The bytes of a bitmap with `indices` set, as (first byte, bytes) runs to merge into a
    Redis bitmap: a chunk's items are mostly consecutive, so a chunk is a few dozen bytes
    instead of a command argument per item. A run ends where more than `gap` bytes would
    hold no index, so scattered indices stay small."""
    import numpy as np

    found = np.unique(np.asarray(indices, dtype=np.int64))
    if not len(found):
        return []
    breaks = np.flatnonzero(np.diff(found >> 3) > gap) + 1
    runs = []
    for part in np.split(found, breaks):
        first = int(part[0] >> 3)
        bits = np.zeros((int(part[-1] >> 3) - first + 1) * 8, dtype=np.uint8)
        bits[part - first * 8] = 1
        runs.append((first, np.packbits(bits).tobytes()))
    return runs


class ConfidenceOrder:
    """All items in one order, failed first, then by (confidence, class rank, index), paged
    without reading the classes' ranges in full. With `below`, only the labelled items less
    sure than it."""

    def __init__(self, redis, rank_key: str, classes: int, below: float | None = None) -> None:
        self.redis, self.key, self.classes = redis, rank_key, classes
        # Confidence steps in [0, top]; failed items only when no threshold is asked for.
        self.top = SCALE if below is None else round(below * SCALE) - 1
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
            pipe.zcount(self.key, r * STRIDE, r * STRIDE + step)
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
            pipe.zcount(self.key, r * STRIDE + step, r * STRIDE + step)
        rows: list[str] = []
        for r, count in enumerate(pipe.execute()):
            if skip >= count:
                skip -= count
                continue
            at = r * STRIDE + step
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
            pipe.zrangebyscore(self.key, r * STRIDE + step + 1, r * STRIDE + self.top,
                               start=0, num=limit, withscores=True)
        merged = sorted((int(s) - r * STRIDE, r, m.decode())
                        for r, reply in enumerate(pipe.execute()) for m, s in reply)
        return [m for _, _, m in merged[:limit]]


# A stored result: model index, margin and the top-k as "class:p;class:p", joined by the ASCII
# unit separator; a ";" in a class name is stored as the record separator (\x1e) instead.
SEPARATOR = "\x1f"


def encode_result(result: LabelResult, model: int) -> str:
    top_k = ";".join([f"{label}:{p}" if ";" not in label else
                      f"{label.replace(';', chr(0x1e))}:{p}" for label, p in result.top_k])
    return f"{model}{SEPARATOR}{result.margin}{SEPARATOR}{top_k}"


def _pairs(top_k: str) -> list[tuple[str, float]]:
    pairs = []
    for pair in top_k.split(";"):
        label, _, p = pair.rpartition(":")
        pairs.append((label.replace(chr(0x1e), ";"), float(p)))
    return pairs


def decode_result(raw: bytes, models: list[str]) -> LabelResult:
    model, margin, top_k = raw.decode().split(SEPARATOR, 2)
    pairs = tuple(_pairs(top_k))
    return LabelResult(pairs[0][0], pairs[0][1], float(margin), pairs, models[int(model)])


class CsvFields:
    """label, confidence, margin, top_k and model of a stored result, as the CSV writes them,
    straight from the stored text (no LabelResult: a million rows in seconds)."""

    def __init__(self, models: list[str]) -> None:
        self.models = models

    def __call__(self, raw: bytes) -> tuple[str, str, str, str, str]:
        model, margin, top_k = raw.decode().split(SEPARATOR, 2)
        label, _, confidence = top_k.split(";", 1)[0].rpartition(":")
        if chr(0x1e) in top_k:
            label, top_k = label.replace(chr(0x1e), ";"), top_k.replace(chr(0x1e), ";")
        return label, confidence, margin, top_k, self.models[int(model)]
