"""The job store: the one module that knows the `labeler:*` Redis keys.

    labeler:job:{id}           hash   root, model, precision, classes, total, created, started...
    labeler:job:{id}:paths     list   the items' paths (an item's index is its position)
    labeler:job:{id}:results   list   beside paths: "" pending, "!reason: detail" failed, or
                                      the result: model, margin, top-k (labeler.item_index)
    labeler:job:{id}:models    list   the model ids results name by position
    labeler:job:{id}:rank, :bits:*   the paging index (labeler.item_index)
    labeler:job:{id}:attempts  hash   chunk index -> deliveries seen
    labeler:job:{id}:steps     hash   chunk index -> JSON steps of a redelivered chunk
                                      (labeler.worker.redelivery), while it runs
    labeler:job:{id}:ended     list   one entry once the job is done (waiters block on it)
    labeler:job:{id}:stages    hash   seconds summed over chunks: queue_wait, decode, infer, write
    labeler:job:{id}:batches   hash   inference batch size -> how many batches had it
                                      (these two only for a job submitted with timings on)
    labeler:jobs               zset   job id by creation time
    labeler:counters           hash   labelled:{model}, failed:{reason}, chunks:{retried,gave-up}
                                      counted as written (a redone chunk counts again)
    labeler:worker:{name}      string JSON description, expires unless refreshed
    labeler:worker-activity:{name}  string time of the worker's last task start or end
    labeler:spawned:{queue}    string a local worker was just started for this queue

Writes are keyed by item, so a retried chunk overwrites instead of double counting, and
progress is two counts of the paging index against total: O(log n) to read.
"""

from __future__ import annotations

import json
import time
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from enum import StrEnum

import redis

from labeler.errors import JobNotFound
from labeler.item_index import (
    FAILED_SCORE,
    SCALE,
    STRIDE,
    ConfidenceOrder,
    bit_runs,
    decode_result,
    encode_result,
    score,
    set_bits,
)
from labeler.protocol import Item, LabelResult

PREFIX = "labeler"
JOBS_INDEX = f"{PREFIX}:jobs"
COUNTERS = f"{PREFIX}:counters"
BLOCK = 10_000  # items per round trip when a whole job is read or written


class JobState(StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    DONE = "done"


def job_key(job_id: str) -> str:
    return f"{PREFIX}:job:{job_id}"


def _job_part(part: str) -> Callable[[str], str]:
    """The key of one of a job's structures, named `part` (see the table above)."""
    return lambda job_id: f"{PREFIX}:job:{job_id}:{part}"


results_key, paths_key, models_key, rank_key = map(
    _job_part, ("results", "paths", "models", "rank"))
stages_key, batches_key, ended_key, attempts_key, steps_key = map(
    _job_part, ("stages", "batches", "ended", "attempts", "steps"))


def bits_key(job_id: str, which: int | str) -> str:
    """Bitmap of the items labelled with class rank `which`, or "failed", or "done"."""
    return f"{PREFIX}:job:{job_id}:bits:{which}"


def worker_key(name: str) -> str:
    return f"{PREFIX}:worker:{name}"


def spawn_key(queue: str) -> str:
    return f"{PREFIX}:spawned:{queue}"


def activity_key(name: str) -> str:
    return f"{PREFIX}:worker-activity:{name}"


@dataclass(frozen=True)
class JobProgress:
    id: str
    total: int
    labelled: int
    failed: int
    created: float
    started: float | None
    finished: float | None
    record: dict

    @property
    def done(self) -> int:
        return self.labelled + self.failed

    @property
    def state(self) -> JobState:
        if self.total and self.done >= self.total or self.finished:
            return JobState.DONE
        return JobState.RUNNING if self.started else JobState.QUEUED

    @property
    def elapsed(self) -> float:
        if not self.started:
            return 0.0
        return (self.finished or time.time()) - self.started

    @property
    def rate(self) -> float:
        """Images per second since the first chunk started."""
        return self.done / self.elapsed if self.elapsed > 0 else 0.0

    @property
    def eta(self) -> float | None:
        return (self.total - self.done) / self.rate if self.rate > 0 else None

    def as_dict(self) -> dict:
        return {
            "job": self.id, "total": self.total, "labelled": self.labelled,
            "failed": self.failed, "state": self.state.value, "root": self.record.get("root"),
            "model": self.record.get("model"), "precision": self.record.get("precision"),
            "created": self.created, "started": self.started, "finished": self.finished,
            "elapsed": round(self.elapsed, 3), "images_per_second": round(self.rate, 1),
            "eta": None if self.eta is None else round(self.eta, 1),
        }


class JobStore:
    def __init__(self, client: redis.Redis, ttl: int = 7 * 86400) -> None:
        self.redis = client
        self.ttl = ttl
        self._models: dict[tuple[str, str], int] = {}

    def create_job(self, job_id: str, paths: list[str], classes: Sequence[str] = (),
                   **fields: str | int | float) -> None:
        """A job over `paths` (its items, in this order), labelled with `classes`."""
        now = time.time()
        record = {"total": len(paths), "created": now, "classes": json.dumps(list(classes)),
                  **fields}
        self.add_paths(job_id, paths)
        pipe = self.redis.pipeline()
        pipe.hset(job_key(job_id), mapping={k: str(v) for k, v in record.items()})
        pipe.expire(job_key(job_id), self.ttl)
        pipe.zadd(JOBS_INDEX, {job_id: now})
        pipe.execute()

    def add_paths(self, job_id: str, paths: list[str]) -> int:
        """Append items to the job; the index of the first one."""
        first = self.redis.llen(paths_key(job_id))
        for start in range(0, len(paths), BLOCK):
            pipe = self.redis.pipeline()
            pipe.rpush(paths_key(job_id), *paths[start:start + BLOCK])
            pipe.rpush(results_key(job_id), *[""] * len(paths[start:start + BLOCK]))
            pipe.expire(paths_key(job_id), self.ttl)
            pipe.expire(results_key(job_id), self.ttl)
            pipe.execute()
        return first

    def paths(self, job_id: str) -> Iterator[list[str]]:
        """The job's paths in index order, a block at a time."""
        start = 0
        while block := self.redis.lrange(paths_key(job_id), start, start + BLOCK - 1):
            yield [p.decode() for p in block]
            start += len(block)

    def find_items(self, job_id: str, paths: list[str]) -> list[int | None]:
        """The index of each path (None: not an item of the job). A scan of the path list
        each: for tasks that do not carry their indices and single lookups only."""
        pipe = self.redis.pipeline()
        for path in paths:
            pipe.lpos(paths_key(job_id), path)
        return pipe.execute()

    def item_path(self, job_id: str, index: int) -> str | None:
        path = self.redis.lindex(paths_key(job_id), index)
        return path.decode() if path is not None else None

    def job_record(self, job_id: str) -> dict[str, str]:
        record = self.redis.hgetall(job_key(job_id))
        return _decoded(record)

    def memory_use(self) -> float | None:
        """Used memory as a fraction of maxmemory; None when Redis has no limit."""
        info = self.redis.info("memory")
        limit = int(info.get("maxmemory", 0))
        return int(info["used_memory"]) / limit if limit else None

    def forget_job(self, job_id: str) -> bool:
        classes = json.loads(self.job_record(job_id).get("classes") or "[]")
        keys = [job_key(job_id), results_key(job_id), attempts_key(job_id), steps_key(job_id),
                stages_key(job_id), batches_key(job_id), ended_key(job_id), paths_key(job_id),
                models_key(job_id), rank_key(job_id), bits_key(job_id, "failed"),
                bits_key(job_id, "done"), *(bits_key(job_id, r) for r in range(len(classes)))]
        pipe = self.redis.pipeline()
        pipe.delete(*keys)
        pipe.zrem(JOBS_INDEX, job_id)
        return bool(pipe.execute()[0])

    def labelled_indices(self, job_id: str) -> set[int]:
        labelled, start = set(), 0
        while block := self.redis.lrange(results_key(job_id), start, start + BLOCK - 1):
            labelled.update(start + i for i, v in enumerate(block) if v and v[:1] != b"!")
            start += len(block)
        return labelled

    def reopen_job(self, job_id: str, total: int, pending: list[int]) -> None:
        """Resubmission: `pending` items (failed or never done) count as not done again, the
        chunk attempt counters restart, and the job is unfinished until they are written."""
        pipe = self.redis.pipeline()
        pipe.hset(job_key(job_id), "total", total)
        pipe.hdel(job_key(job_id), "finished")
        pipe.delete(ended_key(job_id))
        for start in range(0, len(pending), BLOCK):
            block = pending[start:start + BLOCK]
            for index in block:
                pipe.lset(results_key(job_id), index, "")
            pipe.zrem(rank_key(job_id), *block)
            for which in ("failed", "done"):
                _bits(pipe, bits_key(job_id, which), block, 0)
        pipe.delete(attempts_key(job_id), steps_key(job_id))
        pipe.execute()

    def begin_chunk(self, job_id: str, chunk: int, worker: str | None = None
                    ) -> tuple[dict[str, str], int]:
        """The job record and this delivery's attempt number, in one round trip that also
        marks `worker` active; the job's first chunk makes a second to set its start time."""
        pipe = self.redis.pipeline()
        pipe.hgetall(job_key(job_id))
        pipe.hincrby(attempts_key(job_id), str(chunk), 1)
        pipe.expire(attempts_key(job_id), self.ttl)
        if worker:
            self._touch(pipe, worker)
        raw, attempt = pipe.execute()[:2]
        record = _decoded(raw)
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

    def done_among(self, job_id: str, indices: Sequence[int]) -> set[int]:
        """Those of `indices` whose items are labelled or failed already."""
        if not indices:
            return set()
        first, last = min(indices) >> 3, max(indices) >> 3
        raw = self.redis.getrange(bits_key(job_id, "done"), first, last)
        return set((set_bits(raw) + first * 8).tolist()) & set(indices)

    def record_chunk(
        self, job_id: str, results: dict[int, LabelResult], errors: dict[int, str],
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
            self._touch(pipe, worker)
        if timings:
            self._add_timings(pipe, job_id, timings)
        if steps_of is not None:
            pipe.hdel(steps_key(job_id), str(steps_of))
        if rewrite:
            for rank in range(len(classes)):
                _bits(pipe, bits_key(job_id, rank), [*results, *errors], 0)
        if results:
            models = {m: self._model_index(job_id, m) for m in {r.model for r in results.values()}}
            pipe.eval(SET_ITEMS, 1, results_key(job_id), *[
                part for i, r in results.items()
                for part in (i, encode_result(r, models[r.model]))])
            pipe.zadd(rank_key(job_id), {
                i: score(ranks[r.label], r.confidence) for i, r in results.items()})
            by_rank: dict[int, list[int]] = {}
            for i, r in results.items():
                by_rank.setdefault(ranks[r.label], []).append(i)
            for rank, indices in by_rank.items():
                _bits(pipe, bits_key(job_id, rank), indices, 1)
            _bits(pipe, bits_key(job_id, "failed"), list(results), 0)
        if errors:
            pipe.eval(SET_ITEMS, 1, results_key(job_id), *[
                part for i, error in errors.items() for part in (i, f"!{error}")])
            pipe.zadd(rank_key(job_id), dict.fromkeys(errors, FAILED_SCORE))
            _bits(pipe, bits_key(job_id, "failed"), list(errors), 1)
        _bits(pipe, bits_key(job_id, "done"), [*results, *errors], 1)
        for field, n in outcome_counts(results, errors).items():
            pipe.hincrby(COUNTERS, field, n)
        for key in (job_key(job_id), results_key(job_id), rank_key(job_id),
                    bits_key(job_id, "failed"), bits_key(job_id, "done"),
                    *(bits_key(job_id, r) for r in {ranks[x.label] for x in results.values()})):
            pipe.expire(key, self.ttl)
        self._read_progress(pipe, job_id)
        progress = self._progress(job_id, *pipe.execute()[-3:])
        if progress and progress.done >= progress.total and not progress.finished:
            self._mark_ended(job_id)
        return progress

    def _add_timings(self, pipe, job_id: str, timings: dict) -> None:
        for stage, seconds in timings["stages"].items():
            pipe.hincrbyfloat(stages_key(job_id), stage, seconds)
        for size in timings["batch_sizes"]:
            pipe.hincrby(batches_key(job_id), str(size), 1)
        pipe.expire(stages_key(job_id), self.ttl)
        pipe.expire(batches_key(job_id), self.ttl)

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

    def _mark_ended(self, job_id: str) -> None:
        pipe = self.redis.pipeline()
        pipe.hsetnx(job_key(job_id), "finished", time.time())
        pipe.delete(ended_key(job_id))
        pipe.rpush(ended_key(job_id), 1)
        pipe.expire(ended_key(job_id), self.ttl)
        pipe.execute()

    def wait_for_end(self, job_id: str, seconds: float) -> bool:
        """Block until the job ends or `seconds` pass; True when it has ended. The entry is
        moved back onto its own list, so every waiter sees it."""
        key = ended_key(job_id)
        return self.redis.brpoplpush(key, key, timeout=seconds) is not None

    def progress(self, job_id: str) -> JobProgress | None:
        pipe = self.redis.pipeline()
        self._read_progress(pipe, job_id)
        return self._progress(job_id, *pipe.execute())

    def require(self, job_id: str) -> JobProgress:
        """The job's progress, or JobNotFound."""
        job = self.progress(job_id)
        if job is None:
            raise JobNotFound(job_id)
        return job

    @staticmethod
    def _read_progress(pipe, job_id: str) -> None:
        pipe.hgetall(job_key(job_id))
        pipe.zcount(rank_key(job_id), 0, "+inf")
        pipe.zcount(rank_key(job_id), FAILED_SCORE, FAILED_SCORE)

    @staticmethod
    def _progress(job_id: str, raw: dict, labelled: int, failed: int) -> JobProgress | None:
        if not raw:
            return None
        record = _decoded(raw)
        return JobProgress(
            id=job_id, total=int(record["total"]), labelled=labelled, failed=failed,
            created=float(record["created"]),
            started=float(record["started"]) if "started" in record else None,
            finished=float(record["finished"]) if "finished" in record else None,
            record=record,
        )

    def iter_items(self, job_id: str) -> Iterator[Item]:
        """Every finished item in index order (sorted by path within each submission), read a
        block at a time: a million-item job streams in bounded memory."""
        classes, models = self._tables(job_id)
        for block in self.stored_blocks(job_id):
            for path, result, error in block:
                if result is not None:
                    yield Item(path, decode_result(result, models), None)
                elif error is not None:
                    yield Item(path, None, error.decode())

    def stored_blocks(self, job_id: str) -> Iterator[list[tuple[str, bytes | None, bytes | None]]]:
        """(path, stored result, error) of every item, a block of BLOCK at a time, as stored
        (see labeler.item_index): for readers that need speed more than LabelResults."""
        start = 0
        for paths in self.paths(job_id):
            indices = range(start, start + len(paths))
            start += len(paths)
            stored = self.redis.lrange(results_key(job_id), indices.start, indices.stop - 1)
            yield [(path, None, v[1:]) if v[:1] == b"!" else (path, v or None, None)
                   for path, v in zip(paths, stored, strict=True)]

    def tables(self, job_id: str) -> tuple[list[str], list[str]]:
        """The job's class names and model ids, which stored results refer to by position."""
        return self._tables(job_id)

    def items_at(self, job_id: str, indices: list[int], models: list[str] | None = None
                 ) -> list[tuple[int, Item | None]]:
        """The items at these indices, with None for one not finished (or not in the job);
        `models` when the caller has read the job's model list already."""
        if models is None:
            models = self._tables(job_id)[1]
        pipe = self.redis.pipeline()
        for index in indices:
            pipe.lindex(paths_key(job_id), index)
            pipe.lindex(results_key(job_id), index)
        replies = pipe.execute()
        items: list[tuple[int, Item | None]] = []
        for n, index in enumerate(indices):
            path, stored = replies[2 * n], replies[2 * n + 1]
            item = None
            if path is not None and stored and stored[:1] == b"!":
                item = Item(path.decode(), None, stored[1:].decode())
            elif path is not None and stored:
                item = Item(path.decode(), decode_result(stored, models), None)
            items.append((index, item))
        return items

    def label_counts(self, job_id: str) -> dict[str, int]:
        """Items per class (those with none left out) and failed, from the paging index."""
        classes, _ = self._tables(job_id)
        pipe = self.redis.pipeline()
        for r in range(len(classes)):
            pipe.zcount(rank_key(job_id), r * STRIDE, r * STRIDE + SCALE)
        pipe.zcount(rank_key(job_id), FAILED_SCORE, FAILED_SCORE)
        *counts, failed = pipe.execute()
        found = {name: n for name, n in zip(classes, counts, strict=True) if n}
        return {**found, "failed": failed} if failed else found

    def count_below(self, job_id: str, below: float, label: str | None = None) -> int:
        """Labelled items (of class `label`) whose confidence is under `below`."""
        classes, _ = self._tables(job_id)
        ranks = [classes.index(label)] if label in classes else [] if label else range(
            len(classes))
        pipe = self.redis.pipeline()
        for r in ranks:
            pipe.zcount(rank_key(job_id), r * STRIDE, score(r, below) - 1)
        return int(sum(pipe.execute()))

    def page(self, job_id: str, label: str | None = None, below: float | None = None,
             sort: str = "path", offset: int = 0, limit: int = 200
             ) -> tuple[int, list[tuple[int, Item]]]:
        """How many items match, and those at [offset, offset + limit): `label` a class or
        "failed", `below` labelled items less sure than it, `sort` path, confidence or
        -confidence (failed items, which have none, first when least sure comes first)."""
        classes, models = self._tables(job_id)
        if label is not None and label != "failed" and label not in classes:
            return 0, []
        if label == "failed" and below is not None:
            return 0, []
        matched, indices = self._select(job_id, classes, label, below, sort, offset, limit)
        return matched, [(i, item) for i, item in self.items_at(job_id, indices, models)
                         if item is not None]

    def _select(self, job_id, classes, label, below, sort, offset, limit):
        rank = classes.index(label) if label in classes else None
        key = rank_key(job_id)
        if label == "failed" or (sort == "path" and below is None):
            bitmap = self.redis.get(bits_key(job_id, "failed" if label == "failed" else
                                             "done" if rank is None else rank)) or b""
            indices = set_bits(bitmap)
            return len(indices), [int(i) for i in indices[offset:offset + limit]]
        if rank is None:
            order = ConfidenceOrder(self.redis, key, len(classes), below)
            total = order.total()
            if sort == "path":
                every = sorted(int(m) for r in range(len(classes)) for m in self.redis.
                               zrangebyscore(key, r * STRIDE, score(r, below) - 1))
                return total, every[offset:offset + limit]
            if sort == "confidence":
                return total, [int(m) for m in order.page(offset, limit)]
            start = max(0, total - offset - limit)
            rows = order.page(start, total - offset - start) if offset < total else []
            return total, [int(m) for m in reversed(rows)]
        low = rank * STRIDE
        high = score(rank, below) - 1 if below is not None else low + SCALE
        total = int(self.redis.zcount(key, low, high))
        if sort == "path":
            return total, sorted(int(m) for m in self.redis.zrangebyscore(key, low, high)
                                 )[offset:offset + limit]
        if sort == "confidence":
            members = self.redis.zrangebyscore(key, low, high, start=offset, num=limit)
        else:
            members = self.redis.zrevrangebyscore(key, high, low, start=offset, num=limit)
        return total, [int(m) for m in members]

    def _tables(self, job_id: str) -> tuple[list[str], list[str]]:
        """The job's class names and model ids, which stored results refer to by position."""
        pipe = self.redis.pipeline()
        pipe.hget(job_key(job_id), "classes")
        pipe.lrange(models_key(job_id), 0, -1)
        classes, models = pipe.execute()
        return json.loads(classes or b"[]"), [m.decode() for m in models]

    def stage_times(self, job_id: str) -> tuple[dict[str, float], dict[int, int]]:
        """Seconds per pipeline stage summed over chunks, and the batch-size histogram."""
        stages = {k.decode(): float(v) for k, v in self.redis.hgetall(stages_key(job_id)).items()}
        batches = {int(k): int(v) for k, v in self.redis.hgetall(batches_key(job_id)).items()}
        return stages, batches

    def recent_jobs(self, limit: int = 10) -> list[JobProgress]:
        ids = [i.decode() for i in self.redis.zrevrange(JOBS_INDEX, 0, limit - 1)]
        jobs = [self.progress(job_id) for job_id in ids]
        stale = [job_id for job_id, job in zip(ids, jobs, strict=True) if job is None]
        if stale:
            self.redis.zrem(JOBS_INDEX, *stale)
        return [job for job in jobs if job is not None]

    def count_chunk(self, outcome: str) -> None:
        """A chunk `retried` (it raised) or one that `gave-up` (delivered too often)."""
        self.redis.hincrby(COUNTERS, f"chunks:{outcome}", 1)

    def counters(self) -> dict[str, int]:
        """Everything workers have written since Redis started: images labelled by model,
        failed by reason, chunks retried and given up."""
        return {k.decode(): int(v) for k, v in self.redis.hgetall(COUNTERS).items()}

    def heartbeat(self, name: str, info: dict, ttl: int) -> None:
        self.redis.set(worker_key(name), json.dumps(info), ex=ttl)

    def forget_worker(self, name: str) -> None:
        self.redis.delete(worker_key(name), activity_key(name))

    @staticmethod
    def _touch(pipe, name: str) -> None:
        """A worker's last chunk start or end, read by its idle check."""
        pipe.set(activity_key(name), time.time(), ex=86400)

    def worker_activity(self, name: str) -> float | None:
        value = self.redis.get(activity_key(name))
        return float(value) if value else None

    def workers(self, queue: str | None = None) -> list[dict]:
        keys = list(self.redis.scan_iter(match=worker_key("*"), count=1000))
        infos = [json.loads(v) for v in self.redis.mget(keys) if v] if keys else []
        return [w for w in infos if queue is None or queue in w.get("queues", [])]

    def claim_spawn(self, queue: str, seconds: int) -> bool:
        """True for the one caller allowed to start a local worker for `queue` right now."""
        return bool(self.redis.set(spawn_key(queue), time.time(), ex=seconds, nx=True))

    def release_spawn(self, queues: list[str]) -> None:
        """A worker is online for these queues: a later stall may start another at once."""
        self.redis.delete(*map(spawn_key, queues))

    def queue_depth(self, queue: str) -> int:
        # Celery's Redis transport keeps a queue as a list named after it.
        return int(self.redis.llen(queue))



def outcome_counts(results: dict[str, LabelResult], errors: dict[str, str]) -> Counter:
    """labelled:{model} and failed:{reason} counts of one chunk's outcome."""
    counts = Counter(f"labelled:{r.model}" for r in results.values())
    counts.update(f"failed:{error.split(':', 1)[0]}" for error in errors.values())
    return counts


# LSET of many (index, value) pairs in one command: a chunk's results were 256 LSETs, whose
# packing and replies cost the worker more than Redis spent on them. Sent with EVAL, not
# EVALSHA: in a pipeline redis-py asks SCRIPT EXISTS before an EVALSHA, a round trip more.
SET_ITEMS = """
for i = 1, #ARGV, 2 do
    redis.call('LSET', KEYS[1], ARGV[i], ARGV[i + 1])
end
return #ARGV / 2
"""

# Bits set (ARGV[1] "1") or cleared ("0") in the bitmap KEYS[1], given as (first byte, bytes)
# runs (labeler.item_index.bit_runs): each run's bytes are read, merged and written back.
MERGE_BITS = """
local set = ARGV[1] == '1'
for i = 2, #ARGV, 2 do
    local first, mask = tonumber(ARGV[i]), ARGV[i + 1]
    local old = redis.call('GETRANGE', KEYS[1], first, first + #mask - 1)
    local merged = {}
    for j = 1, #mask do
        local byte, bits = string.byte(old, j) or 0, string.byte(mask, j)
        if set then
            merged[j] = string.char(bit.bor(byte, bits))
        else
            merged[j] = string.char(bit.band(byte, 255 - bits))
        end
    end
    redis.call('SETRANGE', KEYS[1], first, table.concat(merged))
end
return 1
"""


def _bits(pipe, key: str, indices: list[int], value: int) -> None:
    """Set (1) or clear (0) the bits of `indices`, merged a run of bytes at a time."""
    if runs := bit_runs(indices):
        pipe.eval(MERGE_BITS, 1, key, value, *[part for run in runs for part in run])


def _decoded(raw: dict[bytes, bytes]) -> dict[str, str]:
    return {k.decode(): v.decode() for k, v in raw.items()}
