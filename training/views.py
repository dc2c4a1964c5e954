"""A fixed bank of augmented views, each judged by the teachers before training.

Offline teachers judge each training image once, unshifted and uncovered; on those images they
are right 99.7 % of the time with the confidence label smoothing allows, so they teach little
beyond the label. A teacher has not memorised a shifted, cut-out view, and its belief about
exactly the view the student sees is what distillation needs ("consistent" teaching, Beyer et
al., 2022). Online teachers give that at the cost of every teacher's inference on every view,
every epoch; a bank of N views per image, judged once, gives it for N passes of the teachers.
Views are a pure function of (seed, view number), so the bank keeps only the probabilities on
disk and a resumed run rebuilds the same views.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from labeler.errors import LabelerError
from labeler.training.augment import augment
from labeler.training.distill import cached_mean_probabilities

# Keeps the views' random streams apart from the batches' (seed, epoch, index) ones.
VIEW_STREAM = 1 << 20


class TeacherViews:
    """views: uint8 (views, images, H, W, C); probabilities: (views, images, classes)."""

    def __init__(self, views: np.ndarray, probabilities: np.ndarray) -> None:
        self.views, self.probabilities = views, probabilities

    def batch(self, rows: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        """One view of each row, drawn afresh, and the teachers' beliefs about that view."""
        pick = rng.integers(0, len(self.views), len(rows))
        return self.views[pick, rows], self.probabilities[pick, rows]


def draw_views(pixels: np.ndarray, count: int, seed: int, pad: int, cutout: int) -> np.ndarray:
    """`count` augmented copies of every image, the same for the same seed."""
    return np.stack([augment(pixels, np.random.default_rng((seed, VIEW_STREAM, view)), pad,
                             cutout)[0] for view in range(count)])


def teacher_views(teachers: Sequence[str], pixels: np.ndarray, classes: Sequence[str],
                  count: int, seed: int, pad: int, cutout: int, cache: Path) -> TeacherViews:
    """The bank for a run; the teachers' probabilities are kept in `cache` (the run folder), so
    a resumed run needs no teacher."""
    if any(Path(t).is_dir() for t in teachers):
        raise LabelerError("--teacher-views needs .keras teachers, run once before training; "
                           "bundle teachers already judge every view the student sees")
    views = draw_views(pixels, count, seed, pad, cutout)
    if not cache.is_file():
        print(f"teachers judging {count} views of each of {len(pixels):,} training images "
              f"({len(teachers)} teachers, once; kept in {cache.name})", flush=True)
    return TeacherViews(views, cached_mean_probabilities(teachers, views, classes, cache))
