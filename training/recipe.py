"""The default recipe fitted to the data: the input side from the images, and the augmentation
that suits it.

Photos (a median shorter side over 64 px) are labelled at 64x64 by the whitened net with a
stride-2 stem (52 M multiply-adds a pass, 103 M with the mirror image's second look that the
bundle takes for every photo) and trained on random-resized crops of images decoded at 1.25x
that side; tiny images such as CIFAR's keep 32x32 and the shipped CIFAR
recipe's augmentation (2-pixel shifts, 12-pixel cutout, 64x learning rate for biases). Both
train 15 epochs. Measured on grocery10 by date and run in docs/recipe-search.md.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from labeler.datasets import load_dataset, typical_short_side

if TYPE_CHECKING:
    from labeler.splits import Split
    from labeler.training.train import TrainConfig

TINY_SIDE, PHOTO_SIDE = 32, 64
CROP_DECODE_SCALE = 1.25
PHOTO_CROP_AREA = 0.35  # the smallest share of a photo a training crop keeps
# The shipped CIFAR recipe's augmentation, for tiny images.
TINY_AUGMENTATION = {"translate": 2, "cutout": 12, "bias_lr_scale": 64.0}
LARGE_SET, LARGE_BATCH = 10_000, 256


def fitted_side(source: str) -> int:
    """The input side for a dataset: 32 for tiny images such as CIFAR's, 64 for photos (the
    largest side at which the whitened net, with the mirror image's second look, fits the
    serving budget of 150 M multiply-adds an image)."""
    typical = typical_short_side(source)
    side = TINY_SIDE if typical is None or typical <= 2 * TINY_SIDE else PHOTO_SIDE
    print(f"input side {side} px" + (f" (the images' median shorter side is {typical} px)"
                                     if typical else ""), flush=True)
    return side


def fit_recipe(config: TrainConfig, explicit: set[str]) -> None:
    """Photos train on random-resized crops; tiny images get the CIFAR recipe's augmentation,
    and a large set a larger batch, wherever the user did not set the option."""
    if is_photo_side(config.input_size[0]):
        config.crop_area = PHOTO_CROP_AREA
    else:
        for name, value in TINY_AUGMENTATION.items():
            if name not in explicit:
                setattr(config, name, value)


def is_photo_side(side: int) -> bool:
    return side >= PHOTO_SIDE


def fit_batch(config: TrainConfig, images: int, explicit: set[str] | None) -> None:
    if explicit is not None and "batch_size" not in explicit and images >= LARGE_SET:
        config.batch_size = LARGE_BATCH


def larger_pixels(config: TrainConfig, split: Split) -> np.ndarray:
    """The training images decoded at 1.25x the input side, for random-resized crops that
    keep their detail."""
    side = round(config.input_size[0] * CROP_DECODE_SCALE)
    images = load_dataset(config.data, "train", (side, side), split.train.classes)
    return images.pixels[split.train_index]
