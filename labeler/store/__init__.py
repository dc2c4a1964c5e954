"""The job store: every `labeler:*` key in Redis, in rooms named for what they hold.

    keys.py          every key, one builder each
    progress.py      a job's state and progress, read in one round trip
    lifecycle.py     jobs created, resubmitted, ended, listed, forgotten
    listing.py       a bucket job's items appended as its keys are listed, with versions
    reads.py         a job's items read back, by index or a block at a time
    chunk_writes.py  a worker's chunk: begun, its steps saved, its outcome written
    index.py         the paging index: class-and-confidence scores and bitmaps
    paging.py        pages of items by class and confidence, from that index
    reviews.py       people's corrections and acceptances, who and when
    result_text.py   how one result is stored
    timings.py       a benchmark's stage times
    fleet.py         workers online, spawn claims, queue depth, counters (not about jobs)
"""

from __future__ import annotations

import redis

from labeler.store.chunk_writes import ChunkWrites
from labeler.store.fleet import Fleet
from labeler.store.lifecycle import JobLifecycle
from labeler.store.listing import Listing
from labeler.store.paging import Paging
from labeler.store.progress import JobProgress, JobState
from labeler.store.reads import ItemReads
from labeler.store.reviews import Review, Reviews
from labeler.store.timings import StageTimings

__all__ = ["Fleet", "JobProgress", "JobState", "JobStore", "Review"]


class JobStore(JobLifecycle, Listing, ItemReads, ChunkWrites, Paging, Reviews, StageTimings):
    """Jobs and their items over one Redis client; results live for `ttl` seconds."""

    def __init__(self, client: redis.Redis, ttl: int = 7 * 86400) -> None:
        self.redis = client
        self.ttl = ttl
        self._models: dict[tuple[str, str], int] = {}
