"""The held-out images a training run validates on and fits its confidence temperature to.

A user's photos come in bursts: the same item shot a few times in a row, files numbered one
after another. A random split puts one shot of a burst in training and the next in the
held-out set, which then scores near 100 % and teaches the temperature to sharpen every
confidence. So:
- a `val/` folder beside `train/` is used as given (photos the user took apart);
- otherwise each class holds out one run of consecutive files (in name order, as cameras
  number them), and images that are near-copies of each other (the same picture saved twice,
  re-encoded, resized) always land on the same side;
- a held-out set from inside the training folder that still scores near 100 % is said to
  look too easy (`Split.looks_too_easy`), and training then never sharpens on it.
Training and export both call `held_out_split`, so they always see the same split.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from labeler.datasets import LabelledImages, in_class_order, load_dataset
from labeler.errors import LabelerError

GIVEN, IN_SET, NONE = "val/ folder as given", "runs of consecutive files held out", "none"
# Held-out accuracy at or above this, on a split made inside the training folder, is more
# likely near-copies on both sides than a solved problem.
TOO_EASY = 0.97
NEAR_COPY = 4.0  # root-mean-square difference of 8x8 colour thumbnails, in 0-255 levels


@dataclass(frozen=True)
class Split:
    train: LabelledImages
    held_out: LabelledImages
    how: str
    train_index: np.ndarray  # the training images' positions in the training folder's order

    def looks_too_easy(self, accuracy: float) -> bool:
        return self.how == IN_SET and accuracy >= TOO_EASY and len(self.held_out) >= 30

    def record(self) -> dict:
        return {"how": self.how, "train_images": len(self.train),
                "held_out_images": len(self.held_out)}


def has_val_folder(source: str) -> bool:
    val = Path(source) / "val"
    return val.is_dir() and any(d.is_dir() for d in val.iterdir())


def held_out_split(source: str, size: tuple[int, int], fraction: float, seed: int,
                   classes: tuple[str, ...] | None = None) -> Split:
    """The run's training and held-out images: `val/` as given when there is one, else
    `fraction` of each class held out in runs of consecutive files (0: nothing held out)."""
    data = load_dataset(source, "train", size, classes)
    rng = np.random.default_rng(seed)
    if has_val_folder(source):
        held_out = in_class_order(load_dataset(source, "val", size), data.classes)
        return _split(data, rng.permutation(len(data)), held_out, GIVEN)
    if fraction == 0:
        return _split(data, rng.permutation(len(data)), data.subset(np.arange(0)), NONE)
    held = held_out_runs(data.labels, near_copy_groups(data.pixels), fraction, rng)
    train = np.flatnonzero(~held)
    if not held.any() or not len(train):
        raise LabelerError(f"{len(data)} images are too few to hold out a validation split; "
                           "give each class at least two images")
    return _split(data, rng.permutation(train), data.subset(np.flatnonzero(held)), IN_SET)


def _split(data: LabelledImages, train: np.ndarray, held_out: LabelledImages, how: str
           ) -> Split:
    return Split(data.subset(train), held_out, how, train)


def held_out_runs(labels: np.ndarray, groups: np.ndarray, fraction: float,
                  rng: np.random.Generator) -> np.ndarray:
    """A mask holding out, in each class, one run of consecutive groups (in file order, from
    a seeded start, wrapping round) covering about `fraction` of the class's images, at least
    one group where the class has two; a group goes wholly to one side, with the class of its
    first image."""
    ids, first, sizes = np.unique(groups, return_index=True, return_counts=True)
    in_file_order = np.argsort(first)
    ids, sizes, owner = ids[in_file_order], sizes[in_file_order], labels[first[in_file_order]]
    held_groups = []
    for label in np.unique(labels):
        members = np.flatnonzero(owner == label)
        wanted = max(round(sizes[members].sum() * fraction), 1)
        if len(members) < 2:
            continue
        start, taken = int(rng.integers(len(members))), 0
        for step in range(len(members) - 1):  # never the class's last group
            member = members[(start + step) % len(members)]
            held_groups.append(ids[member])
            taken += sizes[member]
            if taken >= wanted:
                break
    return np.isin(groups, held_groups)


def near_copy_groups(pixels: np.ndarray, threshold: float = NEAR_COPY,
                     block: int = 1024) -> np.ndarray:
    """A group id for every image: images whose 8x8 colour thumbnails are near-identical
    (the same picture saved twice, re-encoded or resized) share one."""
    n = len(pixels)
    thumbs = _thumbnails(pixels)
    norms = (thumbs ** 2).sum(1)
    # Squared distance under which two thumbnails count as one picture.
    limit = threshold ** 2 * thumbs.shape[1]
    parent = np.arange(n)

    def root(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    for start in range(0, n, block):
        distances = (norms[start:start + block, None] + norms[None]
                     - 2 * thumbs[start:start + block] @ thumbs.T)
        rows, cols = np.nonzero(distances <= limit)
        for i, j in zip(rows + start, cols, strict=True):
            if i < j:
                a, b = root(i), root(j)
                parent[max(a, b)] = min(a, b)
    return np.array([root(i) for i in range(n)])


def _thumbnails(pixels: np.ndarray, side: int = 8) -> np.ndarray:
    """8x8 colour thumbnails (block means of the pixels), flattened."""
    n, h, w, c = pixels.shape
    rows, cols = np.linspace(0, h, side + 1).astype(int), np.linspace(0, w, side + 1).astype(int)
    thumbs = np.empty((n, side, side, c), dtype=np.float32)
    for i in range(side):
        for j in range(side):
            thumbs[:, i, j] = pixels[:, rows[i]:rows[i + 1], cols[j]:cols[j + 1]].mean((1, 2))
    flat = thumbs.reshape(n, -1)
    return flat - flat.mean(0)  # distances unchanged; float32 then keeps their precision
