"""Submitting a folder: scan, record the job, enqueue its chunks (a bucket prefix:
labeler.submit_bucket)."""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass, replace
from pathlib import Path

from labeler.broker import configure
from labeler.buckets import BucketRoot
from labeler.bundle import ModelBundle
from labeler.context import Context
from labeler.errors import JobNotFound, LabelerError, ServiceError, UsageError
from labeler.local_workers import WorkerSupply
from labeler.protocol import inline_item, queue_name, send_chunk
from labeler.scan import IMAGE_EXTENSION_LIST, ScannedFile, scan_images, tapered_chunks
from labeler.settings import Settings
from labeler.store import JobStore


@dataclass(frozen=True)
class Submission:
    job_id: str
    total: int
    chunks: int
    queue: str
    root: str
    enqueue_seconds: float
    scan_seconds: float = 0.0
    # Images enqueued by this submission: all of them, or what a resumed job had not labelled.
    queued: int = 0
    resumed: bool = False

    @property
    def labelled_before(self) -> int:
        return self.total - self.queued


@dataclass
class StartedJob:
    submission: Submission
    supply: WorkerSupply  # what keeps a worker on the job's queue while it runs
    spawned: bool  # a local worker was started for it

    @property
    def unserved(self) -> bool:
        """Nothing will label the job until someone starts a worker for its queue."""
        return not self.spawned and not self.supply.ctx.fleet.workers(self.submission.queue)


def start_job(
    ctx: Context, source: Path | BucketRoot, bundle: ModelBundle, precision: str, *,
    top_k: int = 3, inline: bool = False, resume: str | None = None, spawn: bool = True,
    timings: bool = False,
) -> StartedJob:
    """Submit a folder or a bucket prefix and make sure a worker serves the job's queue (see
    WorkerSupply)."""
    if isinstance(source, BucketRoot):
        if inline:
            raise UsageError("--inline sends local files; workers read a bucket themselves")
        from labeler.submit_bucket import submit_bucket

        job = submit_bucket(ctx.store, ctx.redis_url, ctx.settings, source, bundle, precision,
                            top_k=top_k, resume=resume, timings=timings)
    else:
        job = submit_folder(ctx.store, ctx.redis_url, ctx.settings, source, bundle, precision,
                            top_k=top_k, inline=inline, resume=resume, timings=timings)
    supply = WorkerSupply(ctx, bundle.path, enabled=spawn)
    return StartedJob(job, supply, supply.ensure(job.queue, precision=precision) is not None)


def new_job_id() -> str:
    return time.strftime("%Y%m%d-%H%M%S-") + uuid.uuid4().hex[:6]


def submit_folder(
    store: JobStore,
    redis_url: str,
    settings: Settings,
    root: Path,
    bundle: ModelBundle,
    precision: str,
    *,
    top_k: int = 3,
    inline: bool = False,
    resume: str | None = None,
    timings: bool = False,
) -> Submission:
    """Scan `root` and enqueue it as a new job, or with `resume`, enqueue only the images that
    job has not labelled yet (new ones and failed ones), keeping its results. With `timings`,
    workers also record time per stage and batch sizes (for benchmarks)."""
    root = root.resolve()
    check_room(store)
    started = time.perf_counter()
    files = scan_images(root)
    if not files:
        raise UsageError(f"no images under {root} (looked for {IMAGE_EXTENSION_LIST})")
    submission = submit_files(store, redis_url, settings, root, files, bundle, precision,
                              top_k=top_k, inline=inline, resume=resume, timings=timings)
    return replace(submission, scan_seconds=time.perf_counter() - started
                   - submission.enqueue_seconds)


def submit_files(
    store: JobStore,
    redis_url: str,
    settings: Settings,
    root: Path,
    files: list[ScannedFile],
    bundle: ModelBundle,
    precision: str,
    *,
    top_k: int,
    inline: bool,
    resume: str | None = None,
    timings: bool = False,
) -> Submission:
    started = time.perf_counter()
    queue = queue_name(bundle.name, precision)
    if resume:
        job_id = resume
        todo, positions, total = _unlabelled(store, resume, root, files)
        chunks = list(tapered_chunks(todo, settings.chunk_images, settings.chunk_bytes))
        store.reopen_job(job_id, total, [positions[f.path] for f in todo])
    else:
        job_id, total = new_job_id(), len(files)
        positions = {f.path: i for i, f in enumerate(files)}
        chunks = list(tapered_chunks(files, settings.chunk_images, settings.chunk_bytes))
        store.create_job(
            job_id, [f.path for f in files], bundle.classes, root=str(root),
            model=bundle.name, precision=precision, top_k=top_k, queue=queue,
            chunks=len(chunks), transport="inline" if inline else "path",
            **({"timings": 1} if timings else {}),
        )
    app = configure(redis_url)
    with app.producer_or_acquire() as producer:
        for index, chunk in enumerate(chunks):
            if inline:
                items = [inline_item(f.path, (root / f.path).read_bytes()) for f in chunk]
            else:
                items = [f.path for f in chunk]
            send_chunk(app, producer, queue, job_id, index, items,
                       [positions[f.path] for f in chunk])
    return Submission(job_id, total, len(chunks), queue, str(root),
                      time.perf_counter() - started, queued=sum(len(c) for c in chunks),
                      resumed=bool(resume))


FULL_ENOUGH = 0.9


def check_room(store: JobStore) -> None:
    """Refuse a new job while Redis is nearly full, rather than fail halfway through it."""
    use = store.memory_use()
    if use is not None and use >= FULL_ENOUGH:
        raise ServiceError(
            f"Redis is {use:.0%} full (maxmemory): free space with 'labeler forget JOB', "
            "a shorter LABELER_RESULT_TTL, or a larger LABELER_REDIS_MAXMEMORY")


def _unlabelled(store: JobStore, job_id: str, root: Path, files: list[ScannedFile]):
    record = store.job_record(job_id)
    if not record:
        raise JobNotFound(job_id)
    if record["root"] != str(root):
        raise LabelerError(f"job {job_id} labelled {record['root']}, not {root}")
    positions = {path: i for i, path in enumerate(p for block in store.paths(job_id)
                                                   for p in block)}
    new = [f.path for f in files if f.path not in positions]
    first = store.add_paths(job_id, new)
    positions.update((path, first + i) for i, path in enumerate(new))
    labelled = store.labelled_indices(job_id)
    present = {f.path for f in files}
    # Items not labelled whose files are gone would keep the job unfinished: say why.
    gone = {i: "missing: not in the folder when it was resubmitted"
            for path, i in positions.items() if path not in present and i not in labelled}
    if gone:
        store.record_chunk(job_id, {}, gone)
    todo = [f for f in files if positions[f.path] not in labelled]
    return todo, positions, len(positions)
