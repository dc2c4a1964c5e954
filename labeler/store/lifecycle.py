"""A job's life in the store: created over its items, progress read, resubmitted, ended,
listed among recent jobs, forgotten."""

from __future__ import annotations

import json
import time
from collections.abc import Sequence

from labeler.errors import JobNotFound
from labeler.store.keys import (
    JOBS_INDEX,
    accepts_key,
    all_job_keys,
    attempts_key,
    ended_key,
    job_key,
    paths_key,
    results_key,
    steps_key,
)
from labeler.store.progress import JobProgress, decoded, progress_from, read_progress
from labeler.store.reads import BLOCK


class JobLifecycle:
    """The job store's records of jobs (a part of labeler.store.JobStore)."""

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

    def job_record(self, job_id: str) -> dict[str, str]:
        return decoded(self.redis.hgetall(job_key(job_id)))

    def reopen_job(self, job_id: str, total: int, pending: list[int]) -> None:
        """Resubmission: `pending` items (failed or never done) count as not done again, the
        chunk attempt counters restart, and the job is unfinished until they are written."""
        self.reset_items(job_id, pending)
        pipe = self.redis.pipeline()
        pipe.hset(job_key(job_id), "total", total)
        pipe.hdel(job_key(job_id), "finished")
        pipe.delete(ended_key(job_id), attempts_key(job_id), steps_key(job_id))
        pipe.execute()

    def forget_job(self, job_id: str) -> bool:
        classes = json.loads(self.job_record(job_id).get("classes") or "[]")
        accepts = int(self.redis.llen(accepts_key(job_id)))
        pipe = self.redis.pipeline()
        pipe.delete(*all_job_keys(job_id, len(classes), accepts))
        pipe.zrem(JOBS_INDEX, job_id)
        return bool(pipe.execute()[0])

    def progress(self, job_id: str) -> JobProgress | None:
        pipe = self.redis.pipeline()
        read_progress(pipe, job_id)
        return progress_from(job_id, *pipe.execute())

    def require(self, job_id: str) -> JobProgress:
        """The job's progress, or JobNotFound."""
        job = self.progress(job_id)
        if job is None:
            raise JobNotFound(job_id)
        return job

    def mark_ended(self, job_id: str) -> None:
        """The job is done: its finish time is set and its waiters wake."""
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

    def recent_jobs(self, limit: int = 10) -> list[JobProgress]:
        """The newest jobs; ids whose job has expired leave the index on the way."""
        ids = [i.decode() for i in self.redis.zrevrange(JOBS_INDEX, 0, limit - 1)]
        jobs = [self.progress(job_id) for job_id in ids]
        stale = [job_id for job_id, job in zip(ids, jobs, strict=True) if job is None]
        if stale:
            self.redis.zrem(JOBS_INDEX, *stale)
        return [job for job in jobs if job is not None]

    def memory_use(self) -> float | None:
        """Used memory as a fraction of maxmemory; None when Redis has no limit."""
        info = self.redis.info("memory")
        limit = int(info.get("maxmemory", 0))
        return int(info["used_memory"]) / limit if limit else None
