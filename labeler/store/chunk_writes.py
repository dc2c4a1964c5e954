"""A worker's writes: a chunk's delivery begun, its steps saved when it was delivered before,
its outcome written keyed by item index with the paging index, in one round trip each.

Writes are keyed by item, so a retried chunk overwrites instead of double counting."""

from __future__ import annotations

import json
import time
from collections import Counter
from collections.abc import Sequence

from labeler.protocol import LabelResult
from labeler.signature import BYTES as SIGNATURE_BYTES
from labeler.store.fleet import mark_active
from labeler.store.index import FAILED_SCORE, mark_bits, score
from labeler.store.keys import (
    COUNTERS,
    attempts_key,
    bits_key,
    job_key,
    models_key,
    rank_key,
    results_key,
    signatures_key,
    steps_key,
)
from labeler.store.progress import JobProgress, decoded, progress_from, read_progress
from labeler.store.result_text import encode_result
from labeler.store.timings import add_timings

# LSET of many (index, value) pairs in one command: a chunk's results were 256 LSETs, whose
# packing and replies cost the worker more than Redis spent on them. Sent with EVAL, not
# EVALSHA: in a pipeline redis-py asks SCRIPT EXISTS before an EVALSHA, a round trip more.
SET_ITEMS = """
for i = 1, #ARGV, 2 do
    redis.call('LSET', KEYS[1], ARGV[i], ARGV[i + 1])
end
return #ARGV / 2
"""
# SETRANGE of many (offset, bytes) pairs: the items' signatures, at 8 bytes an index.
SET_RANGES = """
for i = 1, #ARGV, 2 do
    redis.call('SETRANGE', KEYS[1], ARGV[i], ARGV[i + 1])
end
return #ARGV / 2
"""


class ChunkWrites:
    """The job store's writes from workers (a part of labeler.store.JobStore)."""

    def begin_chunk(self, job_id: str, chunk: int, worker: str | None = None
                    ) -> tuple[dict[str, str], int]:
        """The job record and this delivery's attempt number, in one round trip that also
        marks `worker` active; the job's first chunk makes a second to set its start time."""
        pipe = self.redis.pipeline()
        pipe.hgetall(job_key(job_id))
        pipe.hincrby(attempts_key(job_id), str(chunk), 1)
        pipe.expire(attempts_key(job_id), self.ttl)
        if worker:
            mark_active(pipe, worker)
        raw, attempt = pipe.execute()[:2]
        record = decoded(raw)
        if record and "started" not in record:
            # HSETNX on a deleted job would recreate its hash: only once it is known to exist.
            self.redis.hsetnx(job_key(job_id), "started", time.time())
        return record, int(attempt)

    def chunk_steps(self, job_id: str, chunk: int) -> dict | None:
        """What the last delivery of a redelivered chunk saved of its steps, if anything."""
        raw = self.redis.hget(steps_key(job_id), str(chunk))
        return json.loads(raw) if raw else None

    def save_chunk_steps(self, job_id: str, chunk: int, steps: dict) -> None:
        """Saved before each step of a redelivered chunk runs; `record_chunk(steps_of=)`
        drops them with the chunk's last write."""
        pipe = self.redis.pipeline()
        pipe.hset(steps_key(job_id), str(chunk), json.dumps(steps))
        pipe.expire(steps_key(job_id), self.ttl)
        pipe.execute()

    def record_chunk(
        self, job_id: str, results: dict[int, LabelResult], errors: dict[int, str], *,
        timings: dict | None = None, worker: str | None = None,
        classes: Sequence[str] | None = None, rewrite: bool = False,
        steps_of: int | None = None,
    ) -> JobProgress | None:
        """Write one chunk's outcome (keyed by item index) with its paging index, mark
        `worker` active and read the job's progress back, in one round trip (the chunk that
        completes the job makes a second, to mark it finished; a model's first chunk in this
        process one more, to number the model). Idempotent for a retried chunk, except its
        `timings` (stage seconds and batch sizes, for benchmarks), which add up again. With
        `rewrite` (a chunk delivered before, whose items may hold results already) the items
        leave every class's bitmap first, so one whose class changed is not under both.
        `steps_of` names a redelivered chunk whose last step this is: its saved steps go in
        the same round trip, so a job never reads as finished with a chunk's steps left."""
        if classes is None:
            classes = json.loads(self.job_record(job_id).get("classes") or "[]")
        ranks = {name: rank for rank, name in enumerate(classes)}
        pipe = self.redis.pipeline()
        if worker:
            mark_active(pipe, worker)
        if timings:
            add_timings(pipe, job_id, timings, self.ttl)
        if steps_of is not None:
            pipe.hdel(steps_key(job_id), str(steps_of))
        if rewrite:
            for rank in range(len(classes)):
                mark_bits(pipe, bits_key(job_id, rank), [*results, *errors], 0)
        if results:
            self._write_results(pipe, job_id, results, ranks)
        if errors:
            pipe.eval(SET_ITEMS, 1, results_key(job_id), *[
                part for i, error in errors.items() for part in (i, f"!{error}")])
            pipe.zadd(rank_key(job_id), dict.fromkeys(errors, FAILED_SCORE))
            mark_bits(pipe, bits_key(job_id, "failed"), list(errors), 1)
        mark_bits(pipe, bits_key(job_id, "done"), [*results, *errors], 1)
        for field, n in outcome_counts(results, errors).items():
            pipe.hincrby(COUNTERS, field, n)
        for key in (job_key(job_id), results_key(job_id), rank_key(job_id),
                    bits_key(job_id, "failed"), bits_key(job_id, "done"),
                    *(bits_key(job_id, r) for r in {ranks[x.label] for x in results.values()})):
            pipe.expire(key, self.ttl)
        read_progress(pipe, job_id)
        progress = progress_from(job_id, *pipe.execute()[-3:])
        if progress and progress.complete and not progress.finished:
            self.mark_ended(job_id)
        return progress

    def _write_results(self, pipe, job_id: str, results: dict[int, LabelResult],
                       ranks: dict[str, int]) -> None:
        models = {m: self._model_index(job_id, m) for m in {r.model for r in results.values()}}
        pipe.eval(SET_ITEMS, 1, results_key(job_id), *[
            part for i, r in results.items() for part in (i, encode_result(r, models[r.model]))])
        pipe.zadd(rank_key(job_id), {
            i: score(ranks[r.label], r.confidence) for i, r in results.items()})
        signed = [part for i, r in results.items() if r.signature
                  for part in (i * SIGNATURE_BYTES, r.signature)]
        if signed:
            pipe.eval(SET_RANGES, 1, signatures_key(job_id), *signed)
            pipe.expire(signatures_key(job_id), self.ttl)
        by_rank: dict[int, list[int]] = {}
        for i, r in results.items():
            by_rank.setdefault(ranks[r.label], []).append(i)
        for rank, indices in by_rank.items():
            mark_bits(pipe, bits_key(job_id, rank), indices, 1)
        mark_bits(pipe, bits_key(job_id, "failed"), list(results), 0)

    def _model_index(self, job_id: str, model: str) -> int:
        """The position of `model` in the job's model list, added if missing. Two workers
        adding it at once both find its first occurrence."""
        cached = self._models.get((job_id, model))
        if cached is None:
            key = models_key(job_id)
            if self.redis.lpos(key, model) is None:
                self.redis.rpush(key, model)
                self.redis.expire(key, self.ttl)
            cached = self._models[(job_id, model)] = int(self.redis.lpos(key, model))
        return cached

    def count_chunk(self, outcome: str) -> None:
        """A chunk `retried` (it raised) or one that `gave-up` (delivered too often)."""
        self.redis.hincrby(COUNTERS, f"chunks:{outcome}", 1)


def outcome_counts(results: dict, errors: dict[object, str]) -> Counter:
    """labelled:{model} and failed:{reason} counts of one chunk's outcome."""
    counts = Counter(f"labelled:{r.model}" for r in results.values())
    counts.update(f"failed:{error.split(':', 1)[0]}" for error in errors.values())
    return counts
