"""Labels in real time: one ONNX Runtime session inside `labeler serve`, fed by a batching loop.

A request's images are decoded in the server's thread pool as they arrive; the decoded pixels
join a queue that one inference thread drains: it takes what is waiting, waits at most
`max_wait` for more (up to `max_batch`), runs the batch and hands each request its results.
One client alone pays at most `max_wait`; many clients share batches. When more images wait
than `max_pending`, a request is refused at once (RealtimeBusy, answered 429 with
Retry-After) instead of joining a queue that only grows. The model is loaded once, on the
first request (or `warm()`), never per request.

Why in `serve` and not through a Celery queue: a round trip through Redis and a worker costs
each image a task record, two queue hops and a poll; in process the path is decode, batch,
run (measured by `labeler bench latency`).
"""

from __future__ import annotations

import asyncio
import threading
from dataclasses import dataclass, field

import numpy as np

from labeler.bundle import ModelBundle
from labeler.errors import DecodeError
from labeler.imaging import decode_image
from labeler.label_results import label_results


class RealtimeBusy(Exception):
    """More images are waiting than the server takes; try again after `retry_after` s."""

    def __init__(self, retry_after: int) -> None:
        super().__init__(f"busy: try again in {retry_after} s")
        self.retry_after = retry_after


@dataclass
class _Waiting:
    pixels: np.ndarray
    future: asyncio.Future


@dataclass
class RealtimeLabeller:
    bundle: ModelBundle
    precision: str = "auto"
    top_k: int = 5
    max_batch: int = 32
    max_wait: float = 0.002  # seconds the loop waits for a batch to fill
    max_pending: int = 256
    threads: int = 0  # ONNX Runtime's intra-op threads (0: its default, one per core)
    _queue: asyncio.Queue | None = field(default=None, init=False)
    _engine: object = field(default=None, init=False)
    _loading: threading.Lock = field(default_factory=threading.Lock, init=False)
    pending: int = field(default=0, init=False)
    batches: list[int] = field(default_factory=list, init=False)

    def warm(self):
        """The inference engine, loaded on first use (from any thread, once)."""
        with self._loading:
            if self._engine is None:
                from labeler.engine import InferenceEngine

                self._engine = InferenceEngine(self.bundle, self.precision,
                                               threads=self.threads)
            return self._engine

    def decode(self, data: bytes) -> np.ndarray:
        """The model input of one image (DecodeError for a bad one): run in a thread pool."""
        return decode_image(data, self.bundle.input_size)

    async def label(self, pixels: list[np.ndarray]) -> list[dict]:
        """Results of decoded images, in order, from batches shared with other requests."""
        if self.pending + len(pixels) > self.max_pending:
            raise RealtimeBusy(retry_after=1)
        self._start()
        loop = asyncio.get_running_loop()
        waiting = [_Waiting(p, loop.create_future()) for p in pixels]
        self.pending += len(waiting)
        for item in waiting:
            self._queue.put_nowait(item)
        try:
            return list(await asyncio.gather(*(item.future for item in waiting)))
        finally:
            self.pending -= len(waiting)

    def _start(self) -> None:
        if self._queue is None:
            self._queue = asyncio.Queue()
            asyncio.get_running_loop().create_task(self._batches())

    async def _batches(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            batch = [await self._queue.get()]
            deadline = loop.time() + self.max_wait
            while len(batch) < self.max_batch:
                try:
                    batch.append(self._queue.get_nowait())
                    continue
                except asyncio.QueueEmpty:
                    pass
                left = deadline - loop.time()
                if left <= 0:
                    break
                try:
                    batch.append(await asyncio.wait_for(self._queue.get(), left))
                except TimeoutError:
                    break
            try:
                results = await asyncio.to_thread(self._run, [w.pixels for w in batch])
            except Exception as exc:  # the engine failed: every waiting request learns why
                for item in batch:
                    if not item.future.done():
                        item.future.set_exception(exc)
                continue
            for item, result in zip(batch, results, strict=True):
                if not item.future.done():
                    item.future.set_result(result)

    def _run(self, pixels: list[np.ndarray]) -> list[dict]:
        engine = self.warm()
        self.batches.append(len(pixels))
        del self.batches[:-1000]
        probs = engine.run(np.stack(pixels))
        return [r.as_dict() for r in label_results(probs, self.bundle.classes, engine.model_id,
                                                   self.top_k)]


def decode_all(labeller: RealtimeLabeller, images: list[tuple[str, bytes]]
               ) -> tuple[list[np.ndarray], dict[int, str]]:
    """Decoded pixels of the good images, and the reason of each bad one by position."""
    pixels, errors = [], {}
    for n, (_, data) in enumerate(images):
        try:
            pixels.append(labeller.decode(data))
        except DecodeError as exc:
            errors[n] = str(exc)
    return pixels, errors


def records(images: list[tuple[str, bytes]], results: list[dict], errors: dict[int, str]
            ) -> list[dict]:
    """Each image's record, as a job's row has it: its name, the result or the error."""
    found = iter(results)
    rows = []
    for n, (name, _) in enumerate(images):
        if n in errors:
            rows.append({"path": name, "label": None, "confidence": None, "margin": None,
                         "top_k": None, "model": None, "error": errors[n]})
        else:
            rows.append({"path": name, **next(found), "error": None})
    return rows

