"""Distillation targets: what trained teachers believe about each training image.

A small model learns more from "a cat, though it could be a dog" than from "a cat", and an
ensemble of teachers knows more than any model the size and time budget allows. Teachers come
in two kinds, and a run uses one:
- `.keras` files run once, before training, on every training image and on its mirror image;
  each augmented view then gets the beliefs about its unshifted, uncovered original (cheap).
  Their logits are divided by the temperature fitted on their own validation split, as a
  bundle's graph does, so that both kinds teach what they honestly believe.
- bundle folders run through ONNX Runtime on every augmented view the student sees, shift and
  cutout included (online: each teacher's inference on every view, every epoch).
Either way the batches mix those beliefs into the targets of each view.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import keras
import numpy as np

from labeler.durations import format_seconds
from labeler.errors import LabelerError
from labeler.metrics import softmax
from labeler.training.keras_reference import predict_logits


def mean_probabilities(teachers: Sequence[str], views: np.ndarray,
                       classes: Sequence[str]) -> np.ndarray:
    """The teachers' mean calibrated class probabilities for each of several views of the
    images: shape (views, images, classes) for views of shape (views, images, H, W, C)."""
    total = np.zeros((len(views), views.shape[1], len(classes)), np.float32)
    started = time.monotonic()
    for number, path in enumerate(teachers, 1):
        model = keras.models.load_model(path, compile=False)
        _check_classes(Path(path), model.output_shape[-1], classes)
        temperature = fitted_temperature(Path(path))
        for index, images in enumerate(views):
            total[index] += softmax(predict_logits(model, images) / temperature)
        print(f"teacher {number}/{len(teachers)} done ({path}, temperature {temperature:.3f}), "
              f"{format_seconds(time.monotonic() - started)} so far", flush=True)
    return total / len(teachers)


def fitted_temperature(teacher: Path) -> float:
    """The softmax temperature fitted on the teacher's validation split, from its run folder.
    A label-smoothed teacher's raw softmax is far less sure than it is right (fitted
    temperatures of 0.49-0.74 here); its raw beliefs would soften the targets twice over."""
    record = teacher.parent / "calibration.json"
    if not record.is_file():
        raise LabelerError(f"teacher {teacher} has no calibration.json beside it: teachers "
                           f"are finished runs whose confidences were calibrated")
    return float(json.loads(record.read_text())["temperature"])


def _check_classes(path: Path, outputs: int, classes: Sequence[str]) -> None:
    # A teacher's run folder names its classes; one trained on other data must not teach.
    names = path.parent / "classes.json"
    known = json.loads(names.read_text()) if names.is_file() else None
    if outputs != len(classes) or (known is not None and known != list(classes)):
        raise LabelerError(f"teacher {path} was trained on other classes "
                           f"({known or f'{outputs} of them'}); the data has {list(classes)}")


# (augmented uint8 views, their rows in the training set, which are mirrored) -> probabilities
Teach = Callable[[np.ndarray, np.ndarray, np.ndarray], np.ndarray]


def make_teach(teachers: Sequence[str], pixels: np.ndarray, classes: Sequence[str],
               run_dir: Path) -> Teach:
    """What the batches ask for each view's teacher probabilities."""
    online = [Path(t).is_dir() for t in teachers]
    if all(online):
        return OnlineTeachers(teachers, classes)
    if any(online):
        raise LabelerError("teachers are either all .keras files (run once before training) or "
                           "all bundle folders (run on every augmented view), not a mix")
    return precomputed(
        cached_teacher_probabilities(teachers, pixels, classes, run_dir / "teacher.npy"))


def precomputed(probabilities: np.ndarray) -> Teach:
    """Looks each view up in the teachers' beliefs computed before training, shape (2, images,
    classes): [0] for the image as it is, [1] for its mirror image."""
    return lambda _views, rows, mirrored: probabilities[mirrored.astype(int), rows]


class OnlineTeachers:
    """Teacher bundles judging the exact views the student trains on. One ONNX Runtime thread
    each: they run in the batch-feeding thread, beside the training step's own threads."""

    def __init__(self, bundles: Sequence[str], classes: Sequence[str]) -> None:
        from labeler.bundle import load_bundle
        from labeler.engine import InferenceEngine

        self.engines = []
        for path in bundles:
            bundle = load_bundle(path)
            if list(bundle.classes) != list(classes):
                raise LabelerError(f"teacher {path} was trained on other classes "
                                   f"({list(bundle.classes)}); the data has {list(classes)}")
            self.engines.append(InferenceEngine(bundle, "auto", "cpu", threads=1))

    def __call__(self, views: np.ndarray, _rows=None, _mirrored=None) -> np.ndarray:
        return np.mean([engine.run(views) for engine in self.engines], axis=0)


def check_teachers_split(teachers: Sequence[str], seed: int, val_fraction: float) -> None:
    """A teacher that trained on the student's validation images would leak them into the
    student, and the temperature fitted on them would no longer be honest."""
    for teacher in teachers:
        # A run folder's record sits beside its .keras; a bundle keeps it under training/.
        path = Path(teacher)
        state = (path / "training" if path.is_dir() else path.parent) / "state.json"
        if not state.is_file():
            continue
        theirs = json.loads(state.read_text())["config"]
        if (theirs.get("seed"), theirs.get("val_fraction")) != (seed, val_fraction):
            raise LabelerError(
                f"teacher {teacher} held out another validation split (seed "
                f"{theirs.get('seed')}, fraction {theirs.get('val_fraction')}); train the student "
                f"with the same --seed, or the teacher has seen its validation images")


def cached_teacher_probabilities(teachers: Sequence[str], pixels: np.ndarray,
                                 classes: Sequence[str], cache: Path) -> np.ndarray:
    """The teachers' mean class probabilities, shape (2, images, classes): [0] for the images
    as they are, [1] for their mirror images; kept in the run folder so a resumed run needs no
    teacher."""
    return cached_mean_probabilities(
        teachers, np.stack([pixels, pixels[:, :, ::-1]]), classes, cache)


def cached_mean_probabilities(teachers: Sequence[str], views: np.ndarray,
                              classes: Sequence[str], cache: Path) -> np.ndarray:
    """`mean_probabilities`, read from `cache` when it holds them for views of this shape, else
    computed and written there atomically."""
    expected = (len(views), views.shape[1], len(classes))
    if cache.is_file() and (cached := np.load(cache)).shape == expected:
        return cached
    probabilities = mean_probabilities(teachers, views, classes)
    tmp = cache.with_suffix(".tmp.npy")
    np.save(tmp, probabilities)
    os.replace(tmp, cache)
    return probabilities


def distilled_targets(one_hot: np.ndarray, teacher: np.ndarray, weight: float) -> np.ndarray:
    """Targets that give `weight` to the teachers' probabilities and the rest to the label."""
    return (1.0 - weight) * one_hot + weight * teacher
