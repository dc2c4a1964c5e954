"""Waiting for a job to end, riding through short Redis outages."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable
from pathlib import Path

import redis

from labeler.bundle import ModelBundle
from labeler.context import Context
from labeler.errors import JobNotFound, LabelerError, ServiceError
from labeler.local_workers import WorkerSupply
from labeler.store import JobProgress, JobState, JobStore
from labeler.submit import Submission, start_job


def wait_for_job(
    store: JobStore,
    job_id: str,
    *,
    on_progress: Callable[[JobProgress], None] = lambda job: None,
    on_idle: Callable[[JobProgress], None] = lambda job: None,
    on_outage: Callable[[], None] = lambda: None,
    timeout: float | None = None,
    poll: float = 0.25,
    outage_grace: float = 120.0,
) -> JobProgress:
    """Poll until the job is done. `on_idle` is called when no progress was made for a while,
    `on_outage` while Redis does not answer (the embedded default restarts it there)."""
    started = time.monotonic()
    last_done, last_change, outage_since = -1, time.monotonic(), None
    while True:
        try:
            job = store.progress(job_id)
            outage_since = None
        except redis.RedisError as exc:
            outage_since = outage_since or time.monotonic()
            if time.monotonic() - outage_since > outage_grace:
                raise ServiceError(f"lost Redis for {outage_grace:.0f} s: {exc}") from None
            time.sleep(1.0)
            # Still down: keep trying until the grace period ends.
            with contextlib.suppress(LabelerError):
                on_outage()
            continue
        if job is None:
            raise JobNotFound(job_id)
        on_progress(job)
        if job.state is JobState.DONE:
            return job
        if job.done != last_done:
            last_done, last_change = job.done, time.monotonic()
        elif time.monotonic() - last_change > 15:
            on_idle(job)
            last_change = time.monotonic()
        if timeout is not None and time.monotonic() - started > timeout:
            raise LabelerError(
                f"job {job_id} not finished after {timeout:.0f} s "
                f"({job.done}/{job.total}); it keeps running: labeler status {job_id}"
            )
        try:  # returns as soon as the last chunk is written
            store.wait_for_end(job_id, poll)
        except redis.RedisError:
            time.sleep(poll)


def follow_job(
    ctx: Context,
    job_id: str,
    supply: WorkerSupply,
    *,
    on_progress: Callable[[JobProgress], None] = lambda job: None,
    on_notice: Callable[[str], None] = lambda text: None,
    timeout: float | None = None,
) -> JobProgress:
    """Wait for a job the way `labeler submit --wait` does: a local worker is started again
    when the job stalls with none online, a local worker that cannot start ends the wait with
    its reason, and the embedded Redis is restarted after an outage."""

    def progress(job: JobProgress) -> None:
        failure = supply.failure()
        if job.done == 0 and failure:
            raise LabelerError(failure)
        if job.state is not JobState.DONE and supply.replace_exited(
                job.record.get("queue", ""), precision=job.record.get("precision", "auto")):
            on_notice("a local worker exited: started another")
        on_progress(job)

    def idle(job: JobProgress) -> None:
        queue = job.record.get("queue", "")
        if ctx.fleet.workers(queue):
            return
        if supply.ensure(queue, precision=job.record.get("precision", "auto")):
            on_notice("no worker online: started a local one")
        else:
            on_notice(f"waiting: no worker online for {queue}")

    return wait_for_job(ctx.store, job_id, on_progress=progress, on_idle=idle,
                        on_outage=ctx.revive_redis, timeout=timeout)


def submit_and_wait(
    ctx: Context, folder: Path, bundle: ModelBundle, precision: str = "auto", *,
    on_progress: Callable[[JobProgress], None] = lambda job: None,
    timeout: float | None = None, **options,
) -> tuple[Submission, JobProgress]:
    """`start_job` (same `options`) then `follow_job`: the whole of `labeler submit --wait`."""
    started = start_job(ctx, folder, bundle, precision, **options)
    final = follow_job(ctx, started.submission.job_id, started.supply, on_progress=on_progress,
                       timeout=timeout)
    return started.submission, final
