"""Labelling a chunk that was delivered before: its last holder may have died on one of its
images (a decoder that crashes the process, memory running out).

Such a chunk is labelled in steps, each saved before it runs and written when it ends, so the
next delivery knows which images were in hand when a worker died. The images of a step that
was in hand become suspects and are labelled one at a time; an image that was in hand alone is
failed with a reason. Images already written are not labelled again. One image that crashes
its worker costs its chunk three deliveries and fails alone; the rest of the chunk is labelled.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

from labeler.protocol import LabelResult
from labeler.store import JobStore
from labeler.worker.labelling import ChunkOutcome

CONDEMNED = "gave-up: its worker died or failed each time it was labelled"


@dataclass
class Steps:
    """A redelivered chunk's steps, by item index: the one in hand, the suspects (in hand
    when a worker died, with others) and the condemned (in hand alone when one died)."""

    step: list[int] = field(default_factory=list)
    suspects: set[int] = field(default_factory=set)
    condemned: set[int] = field(default_factory=set)

    @classmethod
    def after_death(cls, saved: dict | None) -> Steps:
        """The steps a new delivery starts from, given what the last one saved: a step that
        was in hand when it ended was where its worker died."""
        saved = saved or {}
        steps = cls(suspects=set(saved.get("suspects", ())),
                    condemned=set(saved.get("condemned", ())))
        in_hand = saved.get("step") or []
        if len(in_hand) == 1:
            steps.condemned.update(in_hand)
            steps.suspects.difference_update(in_hand)
        else:
            steps.suspects.update(in_hand)
        return steps

    def plan(self, pending: list[int], batch: int) -> list[list[int]]:
        """The steps that label `pending`: suspects one at a time first, then the rest in
        batches."""
        suspects = [i for i in pending if i in self.suspects]
        rest = [i for i in pending if i not in self.suspects]
        return [[i] for i in suspects] + [rest[s:s + batch] for s in range(0, len(rest), batch)]

    def as_saved(self) -> dict:
        return {"step": self.step, "suspects": sorted(self.suspects),
                "condemned": sorted(self.condemned)}


@dataclass
class RedeliveredChunk:
    """One delivery of a chunk delivered before, over the job store `store`."""

    store: JobStore
    job_id: str
    chunk: int
    worker: str
    classes: tuple[str, ...]
    write_seconds: float = 0.0

    def label(self, sources: dict[int, str | bytes], refused: dict[int, str],
              label: Callable[[list[tuple[int, str | bytes]]], ChunkOutcome],
              batch: int) -> ChunkOutcome:
        """Label `sources` (file path or bytes, by item index) with `label`, step by step;
        what was labelled and failed. A step that raises leaves its record behind, as a death
        would: the retry that follows treats its images as suspects."""
        steps = Steps.after_death(self.store.chunk_steps(self.job_id, self.chunk))
        done = self.store.done_among(self.job_id, list(sources))
        errors = dict(refused)
        errors.update({i: CONDEMNED for i in steps.condemned if i in sources and i not in done})
        merged = ChunkOutcome(errors={i: e for i, e in errors.items() if i in sources})
        pending = [i for i in sources if i not in done and i not in errors]
        plan = steps.plan(pending, batch)
        # The last write also drops the saved steps, so the job ends with none left.
        if errors or not plan:
            self._write({}, errors, last=not plan)
        for number, step in enumerate(plan, 1):
            steps.step = step
            self.store.save_chunk_steps(self.job_id, self.chunk, steps.as_saved())
            outcome = label([(i, sources[i]) for i in step])
            self._write(outcome.results, outcome.errors, last=number == len(plan))
            merged.results.update(outcome.results)
            merged.errors.update(outcome.errors)
            merged.batch_sizes += outcome.batch_sizes
            merged.infer_seconds += outcome.infer_seconds
            merged.total_seconds += outcome.total_seconds
        return merged

    def _write(self, results: dict[int, LabelResult], errors: dict[int, str], *,
               last: bool) -> None:
        started = time.perf_counter()
        self.store.record_chunk(self.job_id, results, errors, worker=self.worker,
                                classes=self.classes, rewrite=True,
                                steps_of=self.chunk if last else None)
        self.write_seconds += time.perf_counter() - started
