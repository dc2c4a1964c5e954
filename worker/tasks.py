"""The labelling task and the per-process runtime it uses.

A task is a thin view: look up the job (one round trip), decode the chunk's items
(labeler.protocol), call `label_chunk`, write the outcome (one round trip).
"""

from __future__ import annotations

import json
import logging
import os
import time
from dataclasses import dataclass
from pathlib import Path

from celery.signals import worker_process_init

from labeler.broker import app
from labeler.bundle import ModelBundle, load_bundle
from labeler.engine import InferenceEngine
from labeler.jobstore import JobStore
from labeler.protocol import MAX_CHUNK_ITEMS, TASK_NAME, decode_items, item_name, item_positions
from labeler.redis_server import connect
from labeler.settings import get_settings
from labeler.worker.labelling import ChunkOutcome, DecodePool, label_chunk
from labeler.worker.metrics import chunk_metrics, observe_chunk
from labeler.worker.redelivery import RedeliveredChunk

log = logging.getLogger("labeler.worker")
# A redelivered chunk is labelled in steps that isolate an image that kills its worker
# (labeler.worker.redelivery), two deliveries for each such image. One delivered this many
# times keeps killing workers outside any image: what is left of it fails with a reason.
MAX_DELIVERIES = 8


@dataclass
class WorkerOptions:
    model: str
    precision: str = "auto"
    provider: str = "auto"
    batch_size: int = 64
    threads: int = 1
    decode_threads: int | None = None  # None: 0 (in-process) on a CPU, 2 on a GPU
    decode_timeout: float = 20.0
    redis_url: str = ""

    ENV = "LABELER_WORKER_OPTIONS"

    def to_env(self) -> None:
        import json
        from dataclasses import asdict

        os.environ[self.ENV] = json.dumps(asdict(self))

    @classmethod
    def from_env(cls) -> WorkerOptions:
        import json

        return cls(**json.loads(os.environ[cls.ENV]))


class Runtime:
    """What one worker process holds for its lifetime: the model, Redis, decode threads."""

    def __init__(self, options: WorkerOptions) -> None:
        self.options = options
        self.bundle: ModelBundle = load_bundle(options.model)
        self.engine = InferenceEngine(
            self.bundle, options.precision, options.provider, options.threads)
        self.store = JobStore(connect(options.redis_url, patient=True))
        threads = options.decode_threads
        if threads is None:
            threads = 0 if self.engine.providers == ["CPUExecutionProvider"] else 2
        self.pool = DecodePool(threads, options.decode_timeout)
        self.allowed_roots = get_settings().allowed_roots
        self.timings = ChunkTimings()


_runtime: Runtime | None = None


def runtime() -> Runtime:
    global _runtime
    if _runtime is None:
        _runtime = Runtime(WorkerOptions.from_env())
        log.info("process %d ready: %s", os.getpid(), _runtime.engine.describe())
    return _runtime


@worker_process_init.connect
def _load_model_after_fork(**_kwargs) -> None:
    if WorkerOptions.ENV in os.environ:
        runtime()


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
    names = [item_name(item) for item in items[:MAX_CHUNK_ITEMS]]
    # A task that does not carry its items' indices (one sent by hand) has them looked up;
    # an item that is not in the job is not labelled at all.
    positions = item_positions(len(names), first, indices) or rt.store.find_items(job_id, names)
    index_of = {n: i for n, i in zip(names, positions, strict=True) if i is not None}
    classes = tuple(json.loads(record.get("classes") or "[]"))
    if attempt > MAX_DELIVERIES or classes != rt.bundle.classes:
        reason = (f"gave-up: chunk failed or crashed a worker {MAX_DELIVERIES} times"
                  if attempt > MAX_DELIVERIES else
                  "refused: the worker's model has other classes than the job's")
        left = set(index_of.values()) - rt.store.done_among(job_id, list(index_of.values()))
        rt.store.record_chunk(job_id, {}, dict.fromkeys(left, reason),
                              worker=worker, classes=classes, rewrite=True)
        rt.store.count_chunk("gave-up")
        chunk_metrics().chunks.labels("gave-up").inc()
        return {"gave_up": len(left)}
    root = Path(record.get("root", "/nonexistent"))
    sources, refused = decode_items(root, items, rt.allowed_roots)

    def label(part: list) -> ChunkOutcome:
        return label_chunk(
            part, rt.engine.run, rt.bundle.classes, rt.bundle.input_size,
            rt.engine.model_id, int(record.get("top_k", 3)), rt.options.batch_size, rt.pool)

    try:
        if attempt > 1:
            redelivered = RedeliveredChunk(rt.store, job_id, chunk, worker, classes)
            outcome = redelivered.label(
                {index_of[n]: (n, s) for n, s in sources if n in index_of},
                {index_of[n]: e for n, e in refused.items() if n in index_of},
                label, rt.options.batch_size)
            observe_chunk(outcome, redelivered.write_seconds)
            return {"labelled": len(outcome.results), "failed": len(outcome.errors),
                    "delivery": attempt}
        outcome = label(sources)
    except Exception as exc:  # an unexpected failure must not lose the chunk: retry it
        log.exception("chunk %s/%d failed (attempt %d)", job_id, chunk, attempt)
        rt.store.count_chunk("retried")
        chunk_metrics().chunks.labels("retried").inc()
        raise self.retry(exc=exc, countdown=2**attempt, max_retries=None) from None
    outcome.errors.update(refused)
    results = {index_of[n]: result for n, result in outcome.results.items() if n in index_of}
    errors = {index_of[n]: error for n, error in outcome.errors.items() if n in index_of}
    timings = None
    if record.get("timings"):
        timings = rt.timings.chunk(outcome, started - sent_at if sent_at else 0.0)
    write_started = time.perf_counter()
    rt.store.record_chunk(job_id, results, errors, timings, worker, classes,
                          rewrite=attempt > 1)
    written = time.perf_counter() - write_started
    if timings is not None:
        rt.timings.wrote(written)
    observe_chunk(outcome, written)
    return {"labelled": len(outcome.results), "failed": len(outcome.errors),
            "batches": outcome.batch_sizes}


class ChunkTimings:
    """Stage times for a job that a benchmark submitted with timings on. They travel in the
    chunk's own write; the time of that write is only known after it, so it goes with the
    process's next chunk (each process's last write is not counted)."""

    def __init__(self) -> None:
        self.unreported_write = 0.0

    def chunk(self, outcome: ChunkOutcome, queue_wait: float) -> dict:
        stages = {"queue_wait": max(0.0, queue_wait), "infer": outcome.infer_seconds,
                  "decode": outcome.total_seconds - outcome.infer_seconds, "chunks": 1,
                  "write": self.unreported_write}
        self.unreported_write = 0.0
        return {"stages": stages, "batch_sizes": outcome.batch_sizes}

    def wrote(self, seconds: float) -> None:
        self.unreported_write += seconds
