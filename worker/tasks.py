"""The labelling task and the per-process runtime it uses.

A task is a thin view: look up the job, turn the chunk's items into sources, call
`label_chunk`, write the outcome in one pipelined round trip.
"""

from __future__ import annotations

import base64
import binascii
import logging
import os
import time
from dataclasses import dataclass
from pathlib import Path

from celery.signals import task_postrun, task_prerun, worker_process_init

from labeler.bundle import ModelBundle, load_bundle
from labeler.jobstore import JobStore
from labeler.redis_server import connect
from labeler.scan import is_inside, resolve_inside
from labeler.settings import get_settings
from labeler.worker.app import TASK_NAME, app
from labeler.worker.engine import InferenceEngine
from labeler.worker.labelling import DecodePool, label_chunk

log = logging.getLogger("labeler.worker")
# A chunk delivered this many times has crashed workers each time (a poison image): give up
# on it with a reason instead of crash-looping.
MAX_DELIVERIES = 3
# Far above what `labeler submit` sends (LABELER_CHUNK_IMAGES, 256 by default).
MAX_CHUNK_ITEMS = 8192


@dataclass
class WorkerOptions:
    model: str
    precision: str = "auto"
    provider: str = "auto"
    batch_size: int = 64
    threads: int = 1
    decode_threads: int = 1
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
    """What one worker process holds for its lifetime: model session, Redis, decode threads."""

    def __init__(self, options: WorkerOptions) -> None:
        self.options = options
        self.bundle: ModelBundle = load_bundle(options.model)
        self.engine = InferenceEngine(
            self.bundle, options.precision, options.provider, options.threads)
        self.store = JobStore(connect(options.redis_url, patient=True))
        self.pool = DecodePool(options.decode_threads, options.decode_timeout)
        self.allowed_roots = get_settings().allowed_roots


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


@task_prerun.connect
@task_postrun.connect
def _mark_activity(task=None, **_kwargs) -> None:
    if _runtime is not None and task is not None and task.request.hostname:
        _runtime.store.touch_worker(task.request.hostname)


@app.task(name=TASK_NAME, bind=True, acks_late=True, reject_on_worker_lost=True)
def label_chunk_task(self, job_id: str, chunk: int, items: list,
                     sent_at: float | None = None) -> dict:
    started = time.time()
    rt = runtime()
    record, attempt = rt.store.begin_chunk(job_id, chunk)
    if not record:
        return {"skipped": "job expired or deleted"}
    names = [_name(item) for item in items]
    if attempt > MAX_DELIVERIES:
        reason = f"gave-up: chunk failed or crashed a worker {MAX_DELIVERIES} times"
        rt.store.record_chunk(job_id, {}, dict.fromkeys(names, reason))
        return {"gave_up": len(names)}
    sources, refused = _sources(record, items, rt.allowed_roots)
    try:
        outcome = label_chunk(
            sources, rt.engine.run, rt.bundle.classes, rt.bundle.input_size,
            rt.engine.model_id, int(record.get("top_k", 3)), rt.options.batch_size, rt.pool,
        )
    except Exception as exc:  # an unexpected failure must not lose the chunk: retry it
        log.exception("chunk %s/%d failed (attempt %d)", job_id, chunk, attempt)
        raise self.retry(exc=exc, countdown=2**attempt, max_retries=None) from None
    outcome.errors.update(refused)
    stages = {"queue_wait": max(0.0, started - sent_at) if sent_at else 0.0,
              "infer": outcome.infer_seconds,
              "decode": outcome.total_seconds - outcome.infer_seconds, "chunks": 1}
    write_started = time.perf_counter()
    rt.store.record_chunk(job_id, outcome.results, outcome.errors, stages, outcome.batch_sizes)
    rt.store.add_stage_time(job_id, "write", time.perf_counter() - write_started)
    return {"labelled": len(outcome.results), "failed": len(outcome.errors),
            "batches": outcome.batch_sizes}


def _sources(
    record: dict, items: list, allowed_roots: tuple[Path, ...] = ()
) -> tuple[list[tuple[str, str | bytes]], dict[str, str]]:
    """Path items resolve under the job's root (itself under an allowed root, when the worker
    has any); inline items carry base64 bytes. Anyone who can write to the broker can send a
    task, so nothing here is taken on trust."""
    sources, refused = [], {}
    if len(items) > MAX_CHUNK_ITEMS:
        return [], dict.fromkeys(map(_name, items), "refused: chunk too large")
    root = Path(record.get("root", "/nonexistent"))
    root_allowed = not allowed_roots or any(is_inside(root, a) for a in allowed_roots)
    for item in items:
        if isinstance(item, list) and len(item) == 2:
            try:
                sources.append((item[0], base64.b64decode(item[1], validate=True)))
            except (binascii.Error, TypeError):
                refused[str(item[0])] = "corrupt: inline data is not valid base64"
            continue
        if not root_allowed:
            refused[str(item)] = "refused: folder outside LABELER_ALLOWED_ROOTS"
            continue
        try:
            sources.append((item, str(resolve_inside(root, item))))
        except (ValueError, TypeError):
            refused[str(item)] = "refused: path escapes the submitted folder"
    return sources, refused


def _name(item) -> str:
    return str(item[0]) if isinstance(item, list) and item else str(item)
