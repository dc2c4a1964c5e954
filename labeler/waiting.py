"""Waiting for a job to end, riding through short Redis outages."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable

import redis

from labeler.errors import LabelerError, ServiceError
from labeler.jobstore import JobProgress, JobState, JobStore


def wait_for_job(
    store: JobStore,
    job_id: str,
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
            raise LabelerError(f"no job {job_id} (it may have expired)")
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
        time.sleep(poll)
