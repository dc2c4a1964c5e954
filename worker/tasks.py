"""The labelling task: a thin view over one delivery of a chunk.

Look up the job (one round trip), pair the chunk's items with their indices in the job, and
take one of three paths: give up (delivered too often, or a worker with other classes), a
first delivery (label, then write once), or a redelivery (label in saved steps,
labeler.worker.redelivery). Everything after the pairing is keyed by item index.
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

from labeler.broker import app
from labeler.bucket_reads import bucket_sources
from labeler.buckets import is_bucket_url
from labeler.protocol import MAX_CHUNK_ITEMS, TASK_NAME, decode_items, item_name, item_positions
from labeler.store import JobStore
from labeler.worker.labelling import ChunkOutcome, label_chunk
from labeler.worker.metrics import chunk_metrics, observe_chunk
from labeler.worker.redelivery import RedeliveredChunk
from labeler.worker.runtime import Runtime, runtime

log = logging.getLogger("labeler.worker")
# A redelivered chunk is labelled in steps that isolate an image that kills its worker
# (labeler.worker.redelivery), two deliveries for each such image. One delivered this many
# times keeps killing workers outside any image: what is left of it fails with a reason.
MAX_DELIVERIES = 8


@app.task(name=TASK_NAME, bind=True, acks_late=True, reject_on_worker_lost=True)
def label_chunk_task(self, job_id: str, chunk: int, items: list,
                     sent_at: float | None = None, first: int | None = None,
                     indices: list | None = None) -> dict:
    started = time.time()
    rt = runtime()
    worker = self.request.hostname
    record, attempt = rt.store.begin_chunk(job_id, chunk, worker)
    if not record:
        return {"skipped": "job expired or deleted"}
    delivery = Delivery(rt, job_id, chunk, worker, record, attempt, started, sent_at,
                        items_in_job(rt.store, job_id, items, first, indices),
                        oversized=len(items) > MAX_CHUNK_ITEMS)
    if reason := delivery.refusal():
        return give_up(delivery, reason)
    try:
        if attempt > 1:
            return label_redelivery(delivery)
        outcome = label_first_delivery(delivery)
    except Exception as exc:  # an unexpected failure must not lose the chunk: retry it
        log.exception("chunk %s/%d failed (attempt %d)", job_id, chunk, attempt)
        rt.store.count_chunk("retried")
        chunk_metrics().chunks.labels("retried").inc()
        raise self.retry(exc=exc, countdown=2**attempt, max_retries=None) from None
    return write_first_delivery(delivery, outcome)


def items_in_job(store: JobStore, job_id: str, items: list, first: int | None,
                 indices: list | None) -> list[tuple[int, object]]:
    """(index in the job, item) of each of the chunk's items. A task that does not carry its
    items' indices (one sent by hand) has them looked up; an item that is not in the job is
    not labelled at all."""
    items = items[:MAX_CHUNK_ITEMS]
    positions = item_positions(len(items), first, indices) or store.find_items(
        job_id, [item_name(item) for item in items])
    return [(index, item) for index, item in zip(positions, items, strict=True)
            if index is not None]


@dataclass
class Delivery:
    """One delivery of a chunk: its job's record, which attempt it is, its items by index."""

    rt: Runtime
    job_id: str
    chunk: int
    worker: str
    record: dict[str, str]
    attempt: int
    started: float
    sent_at: float | None
    items: list[tuple[int, object]]
    oversized: bool = False

    @cached_property  # read on every path of the delivery: parsed once
    def classes(self) -> tuple[str, ...]:
        return tuple(json.loads(self.record.get("classes") or "[]"))

    def refusal(self) -> str | None:
        """Why this delivery labels nothing, if it does not."""
        if self.attempt > MAX_DELIVERIES:
            return f"gave-up: chunk failed or crashed a worker {MAX_DELIVERIES} times"
        if self.classes != self.rt.bundle.classes:
            return "refused: the worker's model has other classes than the job's"
        return None

    def sources(self) -> tuple[list[tuple[int, str | bytes]], dict[int, str]]:
        """(index, file path or bytes) to label, and the items refused, with reasons."""
        if self.oversized:
            return [], dict.fromkeys((i for i, _ in self.items), "refused: chunk too large")
        root = self.record.get("root", "/nonexistent")
        if is_bucket_url(root):
            return bucket_sources(self.rt.buckets, root, self.items, self.rt.allowed_buckets)
        return decode_items(Path(root), self.items, self.rt.allowed_roots)

    def label(self, sources: list[tuple[int, str | bytes]]) -> ChunkOutcome:
        rt = self.rt
        return label_chunk(
            sources, rt.engine.run, rt.bundle.classes, rt.bundle.input_size,
            rt.engine.model_id, int(self.record.get("top_k", 3)), rt.options.batch_size,
            rt.pool)


def give_up(delivery: Delivery, reason: str) -> dict:
    """Fail, with `reason`, the chunk's items that nothing has written yet."""
    store, job_id = delivery.rt.store, delivery.job_id
    indices = [i for i, _ in delivery.items]
    left = set(indices) - store.done_among(job_id, indices)
    store.record_chunk(job_id, {}, dict.fromkeys(left, reason), worker=delivery.worker,
                       classes=delivery.classes, rewrite=True)
    store.count_chunk("gave-up")
    chunk_metrics().chunks.labels("gave-up").inc()
    return {"gave_up": len(left)}


def label_first_delivery(delivery: Delivery) -> ChunkOutcome:
    sources, refused = delivery.sources()
    outcome = delivery.label(sources)
    outcome.errors.update(refused)
    return outcome


def write_first_delivery(delivery: Delivery, outcome: ChunkOutcome) -> dict:
    """One write for the whole chunk, with its stage times when the job asked for them."""
    rt = delivery.rt
    timings = None
    if delivery.record.get("timings"):
        queue_wait = delivery.started - delivery.sent_at if delivery.sent_at else 0.0
        timings = rt.timings.chunk(outcome, queue_wait)
    write_started = time.perf_counter()
    rt.store.record_chunk(delivery.job_id, outcome.results, outcome.errors, timings=timings,
                          worker=delivery.worker, classes=delivery.classes)
    written = time.perf_counter() - write_started
    if timings is not None:
        rt.timings.wrote(written)
    observe_chunk(outcome, written)
    return {"labelled": len(outcome.results), "failed": len(outcome.errors),
            "batches": outcome.batch_sizes}


def label_redelivery(delivery: Delivery) -> dict:
    """Label a chunk delivered before in saved steps, written as each ends."""
    sources, refused = delivery.sources()
    redelivered = RedeliveredChunk(delivery.rt.store, delivery.job_id, delivery.chunk,
                                   delivery.worker, delivery.classes)
    outcome = redelivered.label(dict(sources), refused, delivery.label,
                                delivery.rt.options.batch_size)
    observe_chunk(outcome, redelivered.write_seconds)
    return {"labelled": len(outcome.results), "failed": len(outcome.errors),
            "delivery": delivery.attempt}
