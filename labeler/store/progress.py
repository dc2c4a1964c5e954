"""A job's progress: its record and two counts of the paging index against its total, read in
one round trip (O(log n))."""

from __future__ import annotations

import time
from dataclasses import dataclass
from enum import StrEnum

from labeler.store.index import FAILED_SCORE
from labeler.store.keys import job_key, rank_key


class JobState(StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    DONE = "done"


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
    def listing(self) -> bool:
        """Its items are still being listed (a bucket): the total is what is listed so far."""
        return "listing" in self.record

    @property
    def complete(self) -> bool:
        """Every item is labelled or failed, and no more are coming."""
        return bool(self.total) and self.done >= self.total and not self.listing

    @property
    def state(self) -> JobState:
        if self.complete or self.finished:
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
            "listing": self.listing,
        }


def read_progress(pipe, job_id: str) -> None:
    """Queue on `pipe` the three replies `progress_from` takes."""
    pipe.hgetall(job_key(job_id))
    pipe.zcount(rank_key(job_id), 0, "+inf")
    pipe.zcount(rank_key(job_id), FAILED_SCORE, FAILED_SCORE)


def progress_from(job_id: str, raw: dict, labelled: int, failed: int) -> JobProgress | None:
    if not raw:
        return None
    record = decoded(raw)
    return JobProgress(
        id=job_id, total=int(record["total"]), labelled=labelled, failed=failed,
        created=float(record["created"]),
        started=float(record["started"]) if "started" in record else None,
        finished=float(record["finished"]) if "finished" in record else None,
        record=record,
    )


def decoded(raw: dict[bytes, bytes]) -> dict[str, str]:
    return {k.decode(): v.decode() for k, v in raw.items()}
