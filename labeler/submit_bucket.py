"""Submitting a bucket prefix: list its keys a page at a time and enqueue chunks as they fill,
so the first images are labelled while the listing goes on and a million keys never sit in the
submitting process.

Workers read the objects themselves (labeler.bucket_reads); a task carries keys only. With
`resume`, an object is queued again when it is new, failed, never labelled, or changed since
(its ETag differs from the one listed before).
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Iterator
from typing import NamedTuple

from labeler.broker import configure
from labeler.buckets import BucketRoot, ListedObject, list_images
from labeler.bundle import ModelBundle
from labeler.errors import JobNotFound, LabelerError, ServiceError, UsageError
from labeler.protocol import queue_name, send_chunk
from labeler.scan import IMAGE_EXTENSION_LIST, StreamedChunks
from labeler.settings import Settings
from labeler.store import JobStore
from labeler.store.listing import VERSION_BYTES, version_digest
from labeler.submit import Submission, check_room, new_job_id


class Queued(NamedTuple):
    path: str
    size: int
    index: int  # in the job


def submit_bucket(
    store: JobStore, redis_url: str, settings: Settings, root: BucketRoot,
    bundle: ModelBundle, precision: str, *, top_k: int = 3, resume: str | None = None,
    timings: bool = False,
) -> Submission:
    """List `root` and enqueue it as a new job, or with `resume`, enqueue what that job has
    not labelled from the same prefix (new, failed and changed objects)."""
    check_room(store)
    started = time.perf_counter()
    queue = queue_name(bundle.name, precision)
    pages = TimedPages(list_images(root))
    if resume:
        job_id, items = resume, Resubmission(store, resume, root)
        store.begin_listing(job_id)
    else:
        pages.require_images(root)
        job_id, items = new_job_id(), NewItems(store)
        store.create_job(job_id, [], bundle.classes, root=root.url, model=bundle.name,
                         precision=precision, top_k=top_k, queue=queue, chunks=0,
                         transport="bucket", listing=1, **({"timings": 1} if timings else {}))
    chunker = StreamedChunks(settings.chunk_images, settings.chunk_bytes)
    app = configure(redis_url)
    sent = queued = 0
    with app.producer_or_acquire() as producer:
        def send(chunks: Iterable[list[Queued]]) -> None:
            nonlocal sent, queued
            for chunk in chunks:
                send_chunk(app, producer, queue, job_id, sent, [q.path for q in chunk],
                           [q.index for q in chunk])
                sent, queued = sent + 1, queued + len(chunk)

        try:
            for page in pages:
                send(chunker.feed(items.queue(job_id, page)))
            send(chunker.finish())
        except (Exception, KeyboardInterrupt) as exc:
            # The job stays open (listing) with what was queued, which workers label: only
            # a resubmission, which lists the prefix again, can finish it.
            reason = str(exc) if isinstance(exc, LabelerError) else (
                type(exc).__name__ + (f": {exc}" if str(exc) else ""))
            raise ServiceError(
                f"listing {root.url} stopped after {queued:,} images were queued ({reason}); "
                f"finish job {job_id} with: labeler submit {root.url} --resume {job_id}"
            ) from None
    items.close(job_id)
    total = store.end_listing(job_id, chunks=sent)
    return Submission(job_id, total, sent, queue, root.url,
                      time.perf_counter() - started - pages.seconds,
                      scan_seconds=pages.seconds, queued=queued, resumed=bool(resume))


class TimedPages:
    """A listing's pages, with the time spent waiting for them (the submission's "scan")."""

    def __init__(self, pages: Iterator[list[ListedObject]]) -> None:
        self.pages, self.seconds, self.held = pages, 0.0, []

    def __iter__(self) -> Iterator[list[ListedObject]]:
        yield from self.held
        while True:
            started = time.perf_counter()
            page = next(self.pages, None)
            self.seconds += time.perf_counter() - started
            if page is None:
                return
            yield page

    def require_images(self, root: BucketRoot) -> None:
        """Read ahead to the first page with an image, so an empty prefix is an error before
        any job is made."""
        for page in self:
            self.held.append(page)
            if page:
                return
        raise UsageError(f"no images under {root.url} (looked for {IMAGE_EXTENSION_LIST})")


class NewItems:
    """A new job: every listed object is appended and queued."""

    def __init__(self, store: JobStore) -> None:
        self.store = store

    def queue(self, job_id: str, page: list[ListedObject]) -> list[Queued]:
        if not page:
            return []
        first = self.store.append_listed(job_id, [o.path for o in page], [o.etag for o in page])
        return [Queued(o.path, o.size, first + i) for i, o in enumerate(page)]

    def close(self, job_id: str) -> None:
        pass


class Resubmission:
    """A job listed again: what it has labelled, unchanged, stays; the rest is queued. Holds
    the job's key -> index map, as a folder's resubmission does."""

    def __init__(self, store: JobStore, job_id: str, root: BucketRoot) -> None:
        record = store.job_record(job_id)
        if not record:
            raise JobNotFound(job_id)
        if record.get("root") != root.url:
            raise LabelerError(f"job {job_id} labelled {record.get('root')}, not {root.url}")
        self.store = store
        self.unseen = {path: i for i, path in enumerate(
            p for block in store.paths(job_id) for p in block)}
        self.versions = store.versions(job_id)
        self.labelled = store.labelled_indices(job_id)

    def queue(self, job_id: str, page: list[ListedObject]) -> list[Queued]:
        fresh, todo, changed = [], [], {}
        for obj in page:
            index = self.unseen.pop(obj.path, None)
            if index is None:
                fresh.append(obj)
            elif self._version(index) != version_digest(obj.etag):
                changed[index] = obj.etag
                todo.append(Queued(obj.path, obj.size, index))
            elif index not in self.labelled:
                todo.append(Queued(obj.path, obj.size, index))
        again = [q.index for q in todo if q.index not in changed]
        if again:  # failed or never labelled: not done until labelled
            self.store.reset_items(job_id, again)
        if changed:  # another picture under the same key: the old one's labels go
            self.store.reset_items(job_id, list(changed), changed=True)
            self.store.set_versions(job_id, changed)
        return todo + NewItems(self.store).queue(job_id, fresh)

    def _version(self, index: int) -> bytes:
        return self.versions[index * VERSION_BYTES:(index + 1) * VERSION_BYTES]

    def close(self, job_id: str) -> None:
        """Objects gone from the prefix that were never labelled would keep the job
        unfinished: they fail with a reason."""
        gone = {i: "missing: not in the bucket when it was resubmitted"
                for i in self.unseen.values() if i not in self.labelled}
        if gone:
            self.store.record_chunk(job_id, {}, gone)
