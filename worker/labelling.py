"""Label a chunk: decode in threads, batch, infer, turn probabilities into results.

Decoding runs in a thread pool (Pillow releases the GIL) while the engine works on the previous
batch, so decode and inference overlap. A file that fails to decode becomes an error entry;
it never stops the chunk.
"""

from __future__ import annotations

import signal
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass, field

import numpy as np

from labeler.errors import DecodeError
from labeler.imaging import decode_image
from labeler.label_results import label_results
from labeler.protocol import LabelResult
from labeler.signature import signatures

Loader = Callable[[object], bytes | str]


@dataclass
class ChunkOutcome:
    """What labelling a chunk gave, by item index: results, and errors with their reasons."""

    results: dict[int, LabelResult] = field(default_factory=dict)
    errors: dict[int, str] = field(default_factory=dict)
    batch_sizes: list[int] = field(default_factory=list)
    infer_seconds: float = 0.0
    total_seconds: float = 0.0


class DecodeTimeout(BaseException):
    """Raised inside a decode that ran out of time (a BaseException, so no `except
    Exception` in a decoder swallows it)."""


class DecodePool:
    """Decoding with a per-image time limit. A decode that hangs (a stalled network share, a
    FIFO, a pathological file) fails its item and the worker keeps going.

    With `threads` >= 1 the images decode in threads, overlapping inference: for a process
    with a core (or a GPU) to spare. With 0 they decode in the calling thread under an
    interval timer: when there is a process per core, a decode thread would only share its
    process's core with inference (measured: 7-9 % slower on 2 cores)."""

    # The in-process timer ticks this many times per time limit; a stuck decode fails
    # between `timeout` and `timeout * (1 + 1 / TICKS)` after it started.
    TICKS = 4

    def __init__(self, threads: int, timeout: float) -> None:
        self.threads, self.timeout = threads, timeout
        self.executor = ThreadPoolExecutor(max_workers=max(1, threads))
        self._item_started: float | None = None

    def map(self, fn: Callable, items: Iterable) -> Iterator:
        """Results of `fn` in order; a `TimeoutError` instance for an item that timed out."""
        items = list(items)
        if self.threads == 0 and threading.current_thread() is threading.main_thread():
            yield from self._timed(fn, items)
            return
        yield from self._threaded(fn, items)

    def _timed(self, fn: Callable, items: list) -> Iterator:
        # One interval timer for the whole chunk, its tick comparing the running item's start
        # with the limit: arming a timer around each image cost two system calls an image.
        previous = signal.signal(signal.SIGALRM, self._alarm)
        tick = self.timeout / self.TICKS
        signal.setitimer(signal.ITIMER_REAL, tick, tick)
        try:
            for item in items:
                try:
                    self._item_started = time.monotonic()
                    result = fn(item)
                    self._item_started = None
                except DecodeTimeout:  # the handler has cleared the start
                    result = TimeoutError()
                yield result
        finally:
            self._item_started = None
            signal.setitimer(signal.ITIMER_REAL, 0)
            signal.signal(signal.SIGALRM, previous)

    def _alarm(self, _signum, _frame) -> None:
        started = self._item_started
        if started is not None and time.monotonic() - started >= self.timeout:
            self._item_started = None  # one raise per item, even if the decoder lingers
            raise DecodeTimeout

    def _threaded(self, fn: Callable, items: list) -> Iterator:
        futures = [self.executor.submit(fn, item) for item in items]
        for i, future in enumerate(futures):
            try:
                yield future.result(timeout=self.timeout)
            except FutureTimeout:
                yield TimeoutError()
                # A thread is stuck in item i: hand everything not yet done to a fresh pool,
                # or it would wait (and time out) behind the stuck one.
                pending = [j for j in range(i + 1, len(futures)) if not futures[j].done()]
                self.executor.shutdown(wait=False, cancel_futures=True)
                self.executor = ThreadPoolExecutor(max_workers=max(1, self.threads))
                for j in pending:
                    futures[j] = self.executor.submit(fn, items[j])


def label_chunk(
    items: Iterable[tuple[int, str | bytes]],
    run: Callable[[np.ndarray], np.ndarray],
    classes: tuple[str, ...],
    size: tuple[int, int],
    model_id: str,
    top_k: int,
    batch_size: int,
    pool: DecodePool,
) -> ChunkOutcome:
    """`items` are (index, source): the item's index in its job, and a file path or the
    file's bytes."""
    outcome = ChunkOutcome()

    def decode(item: tuple[int, str | bytes]):
        index, source = item
        try:
            return index, decode_image(source, size), None
        except DecodeError as exc:
            return index, None, str(exc)

    started = time.perf_counter()
    items = list(items)
    indices: list[int] = []
    pixels: list[np.ndarray] = []
    for (index, _), decoded in zip(items, pool.map(decode, items), strict=True):
        if isinstance(decoded, TimeoutError):
            outcome.errors[index] = f"timeout: decoding took over {pool.timeout:g} s"
            continue
        _, array, error = decoded
        if error is not None:
            outcome.errors[index] = error
            continue
        indices.append(index)
        pixels.append(array)
        if len(pixels) == batch_size:
            _infer(indices, pixels, run, classes, model_id, top_k, outcome)
            indices, pixels = [], []
    if pixels:
        _infer(indices, pixels, run, classes, model_id, top_k, outcome)
    outcome.total_seconds = time.perf_counter() - started
    return outcome


def _infer(indices, pixels, run, classes, model_id, top_k, outcome: ChunkOutcome) -> None:
    started = time.perf_counter()
    batch = np.stack(pixels)
    probs = run(batch)
    outcome.infer_seconds += time.perf_counter() - started
    outcome.batch_sizes.append(len(indices))
    # Signatures from the pixels in hand: near-duplicate search needs no second decode.
    results = label_results(probs, classes, model_id, top_k, signatures(batch))
    outcome.results.update(zip(indices, results, strict=True))
