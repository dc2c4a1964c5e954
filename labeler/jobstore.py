"""The job store: the one module that knows the `labeler:*` Redis keys.

    labeler:job:{id}           hash   root, model, precision, total, created, started, finished...
    labeler:job:{id}:results   hash   item path -> JSON {label, confidence, margin, top_k, model}
    labeler:job:{id}:errors    hash   item path -> "reason: detail"
    labeler:job:{id}:attempts  hash   chunk index -> deliveries seen
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
progress is HLEN(results) + HLEN(errors) against total: O(1) to read.
"""

from __future__ import annotations

import json
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from enum import StrEnum

import redis

from labeler.errors import JobNotFound
from labeler.protocol import Item, LabelResult

PREFIX = "labeler"
JOBS_INDEX = f"{PREFIX}:jobs"
COUNTERS = f"{PREFIX}:counters"


class JobState(StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    DONE = "done"


def job_key(job_id: str) -> str:
    return f"{PREFIX}:job:{job_id}"


def results_key(job_id: str) -> str:
    return f"{PREFIX}:job:{job_id}:results"


def errors_key(job_id: str) -> str:
    return f"{PREFIX}:job:{job_id}:errors"


def stages_key(job_id: str) -> str:
    return f"{PREFIX}:job:{job_id}:stages"


def batches_key(job_id: str) -> str:
    return f"{PREFIX}:job:{job_id}:batches"


def ended_key(job_id: str) -> str:
    return f"{PREFIX}:job:{job_id}:ended"


def attempts_key(job_id: str) -> str:
    return f"{PREFIX}:job:{job_id}:attempts"


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

    def create_job(self, job_id: str, total: int, **fields: str | int | float) -> None:
        now = time.time()
        record = {"total": total, "created": now, **fields}
        pipe = self.redis.pipeline()
        pipe.hset(job_key(job_id), mapping={k: str(v) for k, v in record.items()})
        pipe.expire(job_key(job_id), self.ttl)
        pipe.zadd(JOBS_INDEX, {job_id: now})
        pipe.execute()

    def job_record(self, job_id: str) -> dict[str, str]:
        record = self.redis.hgetall(job_key(job_id))
        return _decoded(record)

    def memory_use(self) -> float | None:
        """Used memory as a fraction of maxmemory; None when Redis has no limit."""
        info = self.redis.info("memory")
        limit = int(info.get("maxmemory", 0))
        return int(info["used_memory"]) / limit if limit else None

    def forget_job(self, job_id: str) -> bool:
        keys = [job_key(job_id), results_key(job_id), errors_key(job_id), attempts_key(job_id),
                stages_key(job_id), batches_key(job_id), ended_key(job_id)]
        pipe = self.redis.pipeline()
        pipe.delete(*keys)
        pipe.zrem(JOBS_INDEX, job_id)
        return bool(pipe.execute()[0])

    def labelled_paths(self, job_id: str) -> set[str]:
        return {k.decode() for k in self.redis.hkeys(results_key(job_id))}

    def reopen_job(self, job_id: str, total: int, pending: list[str]) -> None:
        """Resubmission: `pending` items (failed or never done) count as not done again, the
        chunk attempt counters restart, and the job is unfinished until they are written."""
        pipe = self.redis.pipeline()
        pipe.hset(job_key(job_id), "total", total)
        pipe.hdel(job_key(job_id), "finished")
        pipe.delete(ended_key(job_id))
        if pending:
            pipe.hdel(errors_key(job_id), *pending)
        pipe.delete(attempts_key(job_id))
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

    def record_chunk(
        self, job_id: str, results: dict[str, LabelResult], errors: dict[str, str],
        timings: dict | None = None, worker: str | None = None,
    ) -> JobProgress | None:
        """Write one chunk's outcome, mark `worker` active and read the job's progress back,
        in one round trip (the chunk that completes the job makes a second, to mark it
        finished). Idempotent for a retried chunk, except its `timings` (stage seconds and
        batch sizes, for benchmarks), which add up again."""
        pipe = self.redis.pipeline()
        if worker:
            self._touch(pipe, worker)
        if timings:
            for stage, seconds in timings["stages"].items():
                pipe.hincrbyfloat(stages_key(job_id), stage, seconds)
            for size in timings["batch_sizes"]:
                pipe.hincrby(batches_key(job_id), str(size), 1)
            pipe.expire(stages_key(job_id), self.ttl)
            pipe.expire(batches_key(job_id), self.ttl)
        if results:
            pipe.hset(results_key(job_id), mapping={
                path: result.to_json() for path, result in results.items()})
            pipe.hdel(errors_key(job_id), *results)
        if errors:
            pipe.hset(errors_key(job_id), mapping=errors)
            pipe.hdel(results_key(job_id), *errors)
        for field, n in outcome_counts(results, errors).items():
            pipe.hincrby(COUNTERS, field, n)
        for key in (job_key(job_id), results_key(job_id), errors_key(job_id)):
            pipe.expire(key, self.ttl)
        self._read_progress(pipe, job_id)
        progress = self._progress(job_id, *pipe.execute()[-3:])
        if progress and progress.done >= progress.total and not progress.finished:
            self._mark_ended(job_id)
        return progress

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
        pipe.hlen(results_key(job_id))
        pipe.hlen(errors_key(job_id))

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
        """Every finished item, sorted by path."""
        results = {k.decode(): v for k, v in self.redis.hscan_iter(results_key(job_id), count=1000)}
        errors = {k.decode(): v.decode() for k, v in self.redis.hscan_iter(errors_key(job_id),
                                                                             count=1000)}
        for path in sorted(results.keys() | errors.keys()):
            if path in results:
                yield Item(path, LabelResult.from_json(results[path]), None)
            else:
                yield Item(path, None, errors[path])

    def has_item(self, job_id: str, path: str) -> bool:
        pipe = self.redis.pipeline()
        pipe.hexists(results_key(job_id), path)
        pipe.hexists(errors_key(job_id), path)
        return any(pipe.execute())

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


def _decoded(raw: dict[bytes, bytes]) -> dict[str, str]:
    return {k.decode(): v.decode() for k, v in raw.items()}
