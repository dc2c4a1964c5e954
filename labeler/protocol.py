"""The task message and the result record, in one place.

`labeler submit` sends one task per chunk: `label_chunk(job_id, chunk_index, items,
sent_at=...)` on the queue of the job's model and precision. An item is a path relative to
the job's folder, or `[path, base64 bytes]` for an image sent by value. A worker writes one
`LabelResult` per labelled item (JSON in the job store), and every reader (results files, the
web page, Label Studio exports, scoring) gets `Item`s back.
"""

from __future__ import annotations

import base64
import binascii
import json
import time
from pathlib import Path
from typing import NamedTuple

from labeler.scan import InsideResolver, is_inside

TASK_NAME = "labeler.label_chunk"
# Far above what `labeler submit` sends (LABELER_CHUNK_IMAGES, 512 by default).
MAX_CHUNK_ITEMS = 8192
# Publishing rides out a short broker outage instead of failing the submission.
SEND_RETRY = {"max_retries": 10, "interval_start": 0.2, "interval_step": 0.5, "interval_max": 3}


def queue_name(bundle_name: str, precision: str) -> str:
    """Jobs for one model and precision go to one queue; only matching workers consume it."""
    return f"labeler.{bundle_name}.{precision}"


def inline_item(path: str, data: bytes) -> list[str]:
    """The task-message form of an image sent by value (for workers that cannot see files)."""
    return [path, base64.b64encode(data).decode("ascii")]


def item_name(item: object) -> str:
    return str(item[0]) if isinstance(item, list) and item else str(item)


def send_chunk(app, producer, queue: str, job_id: str, index: int, items: list,
               positions: list[int]) -> None:
    """Publish one chunk's task on `producer` (one connection for a whole submission).
    `positions` are the items' indices in the job: `first` when they run on from it."""
    kwargs: dict = {"sent_at": time.time()}
    if positions == list(range(positions[0], positions[0] + len(positions))):
        kwargs["first"] = positions[0]
    else:
        kwargs["indices"] = positions
    # What Flower and `celery events` show of the task: Celery's own repr of a chunk's
    # paths cost the submitting process 4 ms a chunk and showed a truncated list.
    shown = f"({job_id!r}, {index}, <{len(items)} images from {item_name(items[0])!r}>)"
    shown_kwargs = {**kwargs, "indices": f"<{len(positions)} indices>"} if (
        "indices" in kwargs) else kwargs
    app.send_task(TASK_NAME, args=[job_id, index, items], kwargs=kwargs,
                  queue=queue, producer=producer, retry=True, retry_policy=SEND_RETRY,
                  argsrepr=shown, kwargsrepr=repr(shown_kwargs))


def item_positions(count: int, first: int | None, indices: list | None) -> list[int] | None:
    """The indices a task's items have in their job; None for a task that does not say."""
    if first is not None:
        return list(range(int(first), int(first) + count))
    if indices is not None and len(indices) == count:
        return [int(i) for i in indices]
    return None


def decode_items(
    root: Path, items: list[tuple[int, object]], allowed_roots: tuple[Path, ...] = ()
) -> tuple[list[tuple[int, str | bytes]], dict[int, str]]:
    """(index, file path or bytes) for each of the (index, task item) pairs, and the refused
    ones by index, with their reasons.

    Path items resolve under the job's root (itself under an allowed root, when the worker
    has any); inline items carry base64 bytes. Anyone who can write to the broker can send a
    task, so nothing here is taken on trust."""
    sources, refused = [], {}
    root_allowed = not allowed_roots or any(is_inside(root, a) for a in allowed_roots)
    resolver = InsideResolver(root)
    for index, item in items:
        if isinstance(item, list) and len(item) == 2:
            try:
                sources.append((index, base64.b64decode(item[1], validate=True)))
            except (binascii.Error, TypeError):
                refused[index] = "corrupt: inline data is not valid base64"
            continue
        if not root_allowed:
            refused[index] = "refused: folder outside LABELER_ALLOWED_ROOTS"
            continue
        try:
            sources.append((index, resolver.resolve(item)))
        except (ValueError, TypeError):
            refused[index] = "refused: path escapes the submitted folder"
    return sources, refused


class LabelResult(NamedTuple):
    """One labelled image: the top class, its calibrated probability, the gap to the second,
    the top-k classes with theirs, and the model (bundle name and precision) that said so.
    A named tuple: a worker makes one per image, at a third of a frozen dataclass's cost.
    `signature` (labeler.signature) travels from the worker to the job store, which keeps it
    beside the result, not in it: a result read back has none."""

    label: str
    confidence: float
    margin: float
    top_k: tuple[tuple[str, float], ...]
    model: str
    signature: bytes | None = None

    def as_dict(self) -> dict:
        return {"label": self.label, "confidence": self.confidence, "margin": self.margin,
                "top_k": [list(pair) for pair in self.top_k], "model": self.model}

    @staticmethod
    def empty_dict() -> dict:
        """A failed item's fields: every key a labelled item has, each null."""
        return {"label": None, "confidence": None, "margin": None, "top_k": None,
                "model": None}

    def to_json(self) -> str:
        return json.dumps(self.as_dict(), separators=(",", ":"))

    @classmethod
    def from_json(cls, raw: str | bytes) -> LabelResult:
        value = json.loads(raw)
        return cls(value["label"], value["confidence"], value.get("margin", 0.0),
                   tuple((label, p) for label, p in value.get("top_k", [])),
                   value.get("model", ""))


class Item(NamedTuple):
    """A finished item of a job: labelled (`result`) or failed (`error`, "reason: detail")."""

    path: str
    result: LabelResult | None
    error: str | None
