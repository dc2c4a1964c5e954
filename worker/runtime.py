"""What one worker process holds for its lifetime: the model, Redis, decode threads. Made
once per process, after the fork, never per task."""

from __future__ import annotations

import logging
import os

from celery.signals import worker_process_init

from labeler.bucket_reads import BucketReader
from labeler.bundle import ModelBundle, load_bundle
from labeler.engine import InferenceEngine
from labeler.redis_server import connect
from labeler.settings import get_settings
from labeler.store import JobStore
from labeler.worker.labelling import ChunkOutcome, DecodePool
from labeler.worker.options import WorkerOptions

log = logging.getLogger("labeler.worker")


class Runtime:
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
        settings = get_settings()
        self.allowed_roots = settings.allowed_roots
        self.allowed_buckets = settings.bucket_allowlist
        # A third of the task's time limit left for decoding and inference after the reads.
        self.buckets = BucketReader(settings.fetch_timeout, settings.fetch_concurrency,
                                    chunk_seconds=settings.task_time_limit * 2 / 3,
                                    chunk_bytes=max(4 * settings.chunk_bytes, 256 << 20))
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
