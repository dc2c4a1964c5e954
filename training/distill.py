"""Distillation targets: what trained teachers believe about each training image.

The teachers run once, before training, on every training image and on its mirror image; the
batches then mix those beliefs into the targets of each augmented view (mirror or not). A small
model learns more from "a cat, though it could be a dog" than from "a cat", and an ensemble of
teachers knows more than any model the size and time budget allows.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import keras
import numpy as np

from labeler.errors import LabelerError
from labeler.training.keras_reference import predict_logits


def softmax(logits: np.ndarray) -> np.ndarray:
    shifted = logits - logits.max(axis=-1, keepdims=True)
    exp = np.exp(shifted)
    return exp / exp.sum(axis=-1, keepdims=True)


def teacher_probabilities(teachers: Sequence[str], pixels: np.ndarray,
                          num_classes: int) -> np.ndarray:
    """The teachers' mean class probabilities, shape (2, images, classes): [0] for the images
    as they are, [1] for their mirror images."""
    views = (pixels, pixels[:, :, ::-1])
    total = np.zeros((2, len(pixels), num_classes), np.float32)
    for path in teachers:
        model = keras.models.load_model(path, compile=False)
        if model.output_shape[-1] != num_classes:
            raise LabelerError(f"teacher {path} predicts {model.output_shape[-1]} classes; "
                               f"the data has {num_classes}")
        for index, images in enumerate(views):
            total[index] += softmax(predict_logits(model, images))
    return total / len(teachers)


def cached_teacher_probabilities(teachers: Sequence[str], pixels: np.ndarray, num_classes: int,
                                 cache: Path) -> np.ndarray:
    """`teacher_probabilities`, kept in the run folder so a resumed run needs no teacher."""
    if cache.is_file():
        cached = np.load(cache)
        if cached.shape == (2, len(pixels), num_classes):
            return cached
    probabilities = teacher_probabilities(teachers, pixels, num_classes)
    tmp = cache.with_suffix(".tmp.npy")
    np.save(tmp, probabilities)
    os.replace(tmp, cache)
    return probabilities


def distilled_targets(one_hot: np.ndarray, teacher: np.ndarray, weight: float) -> np.ndarray:
    """Targets that give `weight` to the teachers' probabilities and the rest to the label."""
    return (1.0 - weight) * one_hot + weight * teacher
