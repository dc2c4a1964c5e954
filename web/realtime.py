"""Labels in real time: ONNX Runtime sessions inside `labeler serve`, fed by a batching loop.

A request's images join a queue; the loop takes what is waiting, waits at most `max_wait` for
more (up to `max_batch`) and hands the batch to a free labelling thread (one per core, each
with a one-thread session), which decodes, runs it and hands each request its results.
Decoding there, not in the request, keeps the event loop for HTTP.
One client alone pays at most `max_wait`; many clients share batches. When more images wait
than `max_pending`, a request is refused at once (RealtimeBusy, answered 429 with
Retry-After) instead of joining a queue that only grows. Each thread loads the model once, on
its first batch (`warm()`), never per request.

Why in `serve` and not through a Celery queue: a round trip through Redis and a worker costs
each image a task record, two queue hops and a poll; in process the path is decode, batch,
run (measured by `labeler bench latency`).
"""

from __future__ import annotations

import asyncio
import os
import threading
from concurrent.futures import ThreadPoolExecutor
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
    data: bytes
    future: asyncio.Future


@dataclass
class RealtimeLabeller:
    bundle: ModelBundle
    precision: str = "auto"
    top_k: int = 5
    max_batch: int = 32
    max_wait: float = 0.0005  # seconds the loop waits for a batch to fill (serve --label-wait-ms)
    max_pending: int = 256
    # Batches run side by side, each on a session of one thread (one per core by default):
    # one session of two threads ran batches faster alone, but a busy machine made its
    # threads wait for each other (p99 x4 beside a batch job; x1.1 so).
    runners: int = field(default_factory=lambda: os.cpu_count() or 1)
    _queue: asyncio.Queue | None = field(default=None, init=False)
    _loop: asyncio.AbstractEventLoop | None = field(default=None, init=False)
    _slots: asyncio.Semaphore | None = field(default=None, init=False)
    _executor: ThreadPoolExecutor | None = field(default=None, init=False)
    _sessions: threading.local = field(default_factory=threading.local, init=False)
    _tasks: set = field(default_factory=set, init=False)
    pending: int = field(default=0, init=False)
    batches: list[int] = field(default_factory=list, init=False)

    def warm(self):
        """This thread's inference engine, loaded on its first use."""
        engine = getattr(self._sessions, "engine", None)
        if engine is None:
            from labeler.engine import InferenceEngine

            engine = self._sessions.engine = InferenceEngine(self.bundle, self.precision,
                                                             threads=1)
        return engine

    async def label(self, images: list[bytes]) -> list[dict | str]:
        """Each image's result (a dict) or why it has none (a DecodeError's text), in order,
        from batches shared with other requests."""
        if self.pending + len(images) > self.max_pending:
            raise RealtimeBusy(retry_after=1)
        self._start()
        loop = asyncio.get_running_loop()
        waiting = [_Waiting(data, loop.create_future()) for data in images]
        self.pending += len(waiting)
        for item in waiting:
            self._queue.put_nowait(item)
        try:
            return list(await asyncio.gather(*(item.future for item in waiting)))
        finally:
            self.pending -= len(waiting)

    def _start(self) -> None:
        """The batching loop, on the running event loop (one per server; a test may run
        several loops in turn)."""
        loop = asyncio.get_running_loop()
        if self._loop is not loop:
            self._loop, self._queue = loop, asyncio.Queue()
            self._slots = asyncio.Semaphore(self.runners)
            self._executor = ThreadPoolExecutor(self.runners, "labeler-realtime")
            self._keep(loop.create_task(self._batches()))

    def _keep(self, task: asyncio.Task) -> None:
        """Hold a task until it ends (the loop keeps only weak references)."""
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

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
            await self._slots.acquire()
            self._keep(loop.create_task(self._finish(batch)))

    async def _finish(self, batch: list[_Waiting]) -> None:
        """Run one batch on a free runner and hand each request its results."""
        loop = asyncio.get_running_loop()
        try:
            results = await loop.run_in_executor(self._executor, self._run,
                                                 [w.data for w in batch])
        except Exception as exc:  # the engine failed: every waiting request learns why
            for item in batch:
                if not item.future.done():
                    item.future.set_exception(exc)
            return
        finally:
            self._slots.release()
        for item, result in zip(batch, results, strict=True):
            if not item.future.done():
                item.future.set_result(result)

    def _run(self, images: list[bytes]) -> list[dict | str]:
        engine = self.warm()
        outcomes: list[dict | str] = []
        pixels, places = [], []
        for data in images:
            try:
                pixels.append(decode_image(data, self.bundle.input_size))
                places.append(len(outcomes))
                outcomes.append("")
            except DecodeError as exc:
                outcomes.append(str(exc))
        if pixels:
            self.batches.append(len(pixels))
            del self.batches[:-1000]
            probs = engine.run(np.stack(pixels))
            results = label_results(probs, self.bundle.classes, engine.model_id, self.top_k)
            for place, result in zip(places, results, strict=True):
                outcomes[place] = result.as_dict()
        return outcomes


def records(names: list[str], outcomes: list[dict | str]) -> list[dict]:
    """Each image's record, as a job's row has it: its name, the result or the error."""
    return [{"path": name, **outcome, "error": None} if isinstance(outcome, dict) else
            {"path": name, "label": None, "confidence": None, "margin": None, "top_k": None,
             "model": None, "error": outcome}
            for name, outcome in zip(names, outcomes, strict=True)]

