"""Batches for `model.fit` with augmentation done in numpy on uint8 pixels.

Augmentation lives in the data pipeline, never in the exported model. Random crop with
reflection padding, horizontal flip and cutout: the standard CIFAR recipe; CutMix optional.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import keras
import numpy as np

from labeler.training.distill import Teach, distilled_targets

if TYPE_CHECKING:
    from labeler.training.views import TeacherViews


class AugmentedBatches(keras.utils.PyDataset):
    def __init__(
        self,
        pixels: np.ndarray,
        labels: np.ndarray,
        num_classes: int,
        batch_size: int,
        seed: int,
        epoch: int = 0,
        pad: int = 4,
        cutout: int = 8,
        teach: Teach | None = None,
        teacher_weight: float = 0.0,
        cutmix: float = 0.0,
        views: TeacherViews | None = None,
        crop_area: float = 0.0,
        side: int | None = None,
    ) -> None:
        super().__init__()
        self.pixels, self.labels = pixels, labels
        self.num_classes, self.batch_size = num_classes, batch_size
        self.seed, self.pad, self.cutout = seed, pad, cutout
        self.epoch = epoch
        self.teach, self.teacher_weight = teach, teacher_weight
        self.cutmix = cutmix
        self.views = views  # when given, batches come from it instead of fresh augmentation
        # With crop_area, random-resized crops of at least that share of each image, to
        # `side` (the pixels are decoded larger), instead of padded translations.
        self.crop_area, self.side = crop_area, side or pixels.shape[1]
        self._order = self._permutation()

    def __len__(self) -> int:
        return math.ceil(len(self.labels) / self.batch_size)

    def _permutation(self) -> np.ndarray:
        # Seeded by epoch so a resumed run sees the same order it would have seen.
        return np.random.default_rng((self.seed, self.epoch)).permutation(len(self.labels))

    def on_epoch_end(self) -> None:
        self.epoch += 1
        self._order = self._permutation()

    def __getitem__(self, index: int):
        rows = self._order[index * self.batch_size : (index + 1) * self.batch_size]
        rng = np.random.default_rng((self.seed, self.epoch, index))
        y = np.eye(self.num_classes, dtype=np.float32)[self.labels[rows]]
        if self.views is not None:
            x, beliefs = self.views.batch(rows, rng)
            y = distilled_targets(y, beliefs, self.teacher_weight)
        else:
            x, mirrored = (resized_crops(self.pixels[rows], rng, self.side, self.crop_area,
                                         self.cutout) if self.crop_area else
                           augment(self.pixels[rows], rng, self.pad, self.cutout))
            if self.teach is not None:
                y = distilled_targets(y, self.teach(x, rows, mirrored), self.teacher_weight)
        if self.cutmix and rng.random() < self.cutmix:
            x, y = cut_mix(x, y, rng)
        return x.astype(np.float32), y


def augment(batch: np.ndarray, rng: np.random.Generator, pad: int, cutout: int
            ) -> tuple[np.ndarray, np.ndarray]:
    """Augmented copies of `batch`, and which of them are mirrored."""
    n, h, w, _ = batch.shape
    padded = np.pad(batch, ((0, 0), (pad, pad), (pad, pad), (0, 0)), mode="reflect")
    dy = rng.integers(0, 2 * pad + 1, n)
    dx = rng.integers(0, 2 * pad + 1, n)
    flip = rng.random(n) < 0.5
    out = np.empty_like(batch)
    for i in range(n):
        crop = padded[i, dy[i] : dy[i] + h, dx[i] : dx[i] + w]
        out[i] = crop[:, ::-1] if flip[i] else crop
    if cutout:
        _cut_out(out, rng, cutout)
    return out, flip


def _cut_out(batch: np.ndarray, rng: np.random.Generator, cutout: int) -> None:
    """Zero a `cutout`-sided square at a random centre of each image, in place."""
    n, h, w, _ = batch.shape
    cy = rng.integers(0, h, n)
    cx = rng.integers(0, w, n)
    half = cutout // 2
    for i in range(n):
        batch[i, max(0, cy[i] - half) : cy[i] + half, max(0, cx[i] - half) : cx[i] + half] = 0


def resized_crops(batch: np.ndarray, rng: np.random.Generator, side: int, min_area: float,
                  cutout: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Random-resized crops (Szegedy et al., 2015), for photos: a box of `min_area` to all of
    the image's area, aspect 3:4 to 4:3, resized to `side` x `side`, mirrored half the time;
    then cutout. The images are decoded larger than `side`, so a crop keeps its detail, and the
    whole image resized (what serving sees) is the largest crop. Returns the views and which
    are mirrored."""
    from PIL import Image

    n, h, w, _ = batch.shape
    area = rng.uniform(min_area, 1.0, n) * h * w
    aspect = np.exp(rng.uniform(np.log(3 / 4), np.log(4 / 3), n))
    heights = np.minimum(np.round(np.sqrt(area / aspect)), h).astype(int)
    widths = np.minimum(np.round(np.sqrt(area * aspect)), w).astype(int)
    tops = rng.integers(0, h - heights + 1)
    lefts = rng.integers(0, w - widths + 1)
    flip = rng.random(n) < 0.5
    out = np.empty((n, side, side, batch.shape[-1]), dtype=batch.dtype)
    for i in range(n):
        box = batch[i, tops[i]:tops[i] + heights[i], lefts[i]:lefts[i] + widths[i]]
        view = np.asarray(Image.fromarray(box).resize((side, side), Image.BILINEAR))
        out[i] = view[:, ::-1] if flip[i] else view
    if cutout:
        _cut_out(out, rng, cutout)
    return out, flip


def cut_mix(batch: np.ndarray, targets: np.ndarray, rng: np.random.Generator
            ) -> tuple[np.ndarray, np.ndarray]:
    """CutMix (Yun et al., 2019): paste one box, of a uniformly random share of the area, from
    a shuffled partner into each image, and mix the targets by the share of pixels each kept."""
    n, h, w, _ = batch.shape
    partner = rng.permutation(n)
    share = rng.uniform()
    box_h, box_w = round(h * np.sqrt(share)), round(w * np.sqrt(share))
    top, left = rng.integers(0, h - box_h + 1), rng.integers(0, w - box_w + 1)
    mixed = batch.copy()
    mixed[:, top:top + box_h, left:left + box_w] = batch[partner, top:top + box_h,
                                                         left:left + box_w]
    pasted = box_h * box_w / (h * w)
    return mixed, (1 - pasted) * targets + pasted * targets[partner]
