"""Reading a job's items: paths, stored results and whole jobs in blocks, in index order."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import TYPE_CHECKING

from labeler.protocol import Item
from labeler.signature import BYTES as SIGNATURE_BYTES
from labeler.store.index import set_bits
from labeler.store.keys import (
    bits_key,
    job_key,
    models_key,
    paths_key,
    results_key,
    signatures_key,
)
from labeler.store.result_text import decode_result

if TYPE_CHECKING:
    import numpy as np

BLOCK = 10_000  # items per round trip when a whole job is read or written


class ItemReads:
    """The job store's item reads (a part of labeler.store.JobStore)."""

    def paths(self, job_id: str) -> Iterator[list[str]]:
        """The job's paths in index order, a block at a time."""
        start = 0
        while block := self.redis.lrange(paths_key(job_id), start, start + BLOCK - 1):
            yield [p.decode() for p in block]
            start += len(block)

    def find_items(self, job_id: str, paths: list[str]) -> list[int | None]:
        """The index of each path (None: not an item of the job). A scan of the path list
        each: for tasks that do not carry their indices and single lookups only."""
        pipe = self.redis.pipeline()
        for path in paths:
            pipe.lpos(paths_key(job_id), path)
        return pipe.execute()

    def item_path(self, job_id: str, index: int) -> str | None:
        path = self.redis.lindex(paths_key(job_id), index)
        return path.decode() if path is not None else None

    def labelled_indices(self, job_id: str) -> set[int]:
        labelled, start = set(), 0
        while block := self.redis.lrange(results_key(job_id), start, start + BLOCK - 1):
            labelled.update(start + i for i, v in enumerate(block) if v and v[:1] != b"!")
            start += len(block)
        return labelled

    def done_among(self, job_id: str, indices: list[int]) -> set[int]:
        """Those of `indices` whose items are labelled or failed already."""
        if not indices:
            return set()
        first, last = min(indices) >> 3, max(indices) >> 3
        raw = self.redis.getrange(bits_key(job_id, "done"), first, last)
        return set((set_bits(raw) + first * 8).tolist()) & set(indices)

    def signature_rows(self, job_id: str, total: int) -> np.ndarray:
        """The (total, 8) uint8 signatures of the job's items by index, read in blocks; a row
        of zeros for an item without one."""
        import numpy as np  # not for `labeler status`, which reads this module too

        rows = np.zeros((total, SIGNATURE_BYTES), dtype=np.uint8)
        flat = rows.reshape(-1)
        step = BLOCK * 64 * SIGNATURE_BYTES
        for start in range(0, len(flat), step):
            raw = self.redis.getrange(signatures_key(job_id), start,
                                      min(start + step, len(flat)) - 1)
            flat[start:start + len(raw)] = np.frombuffer(raw, dtype=np.uint8)
            if len(raw) < step:
                break
        return rows

    def signature_memory(self, job_id: str) -> int:
        """Bytes Redis holds for the job's signatures (for benchmarks)."""
        return int(self.redis.memory_usage(signatures_key(job_id)) or 0)

    def tables(self, job_id: str) -> tuple[list[str], list[str]]:
        """The job's class names and model ids, which stored results refer to by position."""
        pipe = self.redis.pipeline()
        pipe.hget(job_key(job_id), "classes")
        pipe.lrange(models_key(job_id), 0, -1)
        classes, models = pipe.execute()
        return json.loads(classes or b"[]"), [m.decode() for m in models]

    def iter_items(self, job_id: str) -> Iterator[Item]:
        """Every finished item in index order (sorted by path within each submission), read a
        block at a time: a million-item job streams in bounded memory."""
        _, models = self.tables(job_id)
        for block in self.stored_blocks(job_id):
            for path, result, error in block:
                if result is not None:
                    yield Item(path, decode_result(result, models), None)
                elif error is not None:
                    yield Item(path, None, error.decode())

    def stored_blocks(self, job_id: str) -> Iterator[list[tuple[str, bytes | None, bytes | None]]]:
        """(path, stored result, error) of every item, a block of BLOCK at a time, as stored
        (see store/result_text.py): for readers that need speed more than LabelResults."""
        start = 0
        for paths in self.paths(job_id):
            indices = range(start, start + len(paths))
            start += len(paths)
            stored = self.redis.lrange(results_key(job_id), indices.start, indices.stop - 1)
            yield [(path, None, v[1:]) if v[:1] == b"!" else (path, v or None, None)
                   for path, v in zip(paths, stored, strict=True)]

    def items_at(self, job_id: str, indices: list[int], models: list[str] | None = None
                 ) -> list[tuple[int, Item | None]]:
        """The items at these indices, with None for one not finished (or not in the job);
        `models` when the caller has read the job's model list already."""
        if models is None:
            models = self.tables(job_id)[1]
        pipe = self.redis.pipeline()
        for index in indices:
            pipe.lindex(paths_key(job_id), index)
            pipe.lindex(results_key(job_id), index)
        replies = pipe.execute()
        items: list[tuple[int, Item | None]] = []
        for n, index in enumerate(indices):
            path, stored = replies[2 * n], replies[2 * n + 1]
            item = None
            if path is not None and stored and stored[:1] == b"!":
                item = Item(path.decode(), None, stored[1:].decode())
            elif path is not None and stored:
                item = Item(path.decode(), decode_result(stored, models), None)
            items.append((index, item))
        return items
