"""Distillation targets: the teachers' view of a mirrored image goes with the mirrored image."""

import numpy as np
import pytest

from labeler.metrics import softmax
from labeler.training.augment import AugmentedBatches
from labeler.training.distill import distilled_targets, precomputed


def test_targets_mix_label_and_teachers_and_stay_distributions():
    one_hot = np.eye(3, dtype=np.float32)[[0, 2]]
    teacher = softmax(np.array([[2.0, 1.0, 0.0], [0.0, 0.0, 3.0]], np.float32))
    mixed = distilled_targets(one_hot, teacher, 0.7)
    np.testing.assert_allclose(mixed.sum(axis=1), 1.0, rtol=1e-6)
    np.testing.assert_allclose(mixed[0], 0.3 * one_hot[0] + 0.7 * teacher[0], rtol=1e-6)
    np.testing.assert_array_equal(distilled_targets(one_hot, teacher, 0.0), one_hot)


def test_each_view_gets_the_teachers_probabilities_for_that_view():
    images, classes = 64, 2
    pixels = np.zeros((images, 8, 8, 3), np.uint8)
    pixels[:, :, 4:] = 255  # bright on the right: a mirrored copy is bright on the left
    teacher = np.zeros((2, images, classes), np.float32)
    teacher[0, :, 0] = 1.0  # "as it is" says class 0, "mirrored" says class 1
    teacher[1, :, 1] = 1.0
    batches = AugmentedBatches(pixels, np.zeros(images, int), classes, batch_size=images, seed=3,
                               pad=0, cutout=0, teach=precomputed(teacher),
                               teacher_weight=1.0)
    x, y = batches[0]
    mirrored = x[:, 0, 0, 0] == 255
    assert 0 < mirrored.sum() < images  # both views occur in a batch this size
    np.testing.assert_array_equal(y[:, 1], mirrored.astype(np.float32))
    np.testing.assert_array_equal(y[:, 0], (~mirrored).astype(np.float32))


def test_an_online_teacher_judges_the_view_the_student_sees_cutout_included():
    images = 64
    pixels = np.full((images, 8, 8, 3), 200, np.uint8)
    seen = []

    def teach(views, rows, mirrored):
        seen.append(views.copy())
        hidden = (views == 0).mean(axis=(1, 2, 3))  # "class 1" as far as cutout hid the image
        return np.stack([1 - hidden, hidden], axis=1)

    batches = AugmentedBatches(pixels, np.zeros(images, int), 2, batch_size=images, seed=5,
                               pad=2, cutout=4, teach=teach, teacher_weight=0.5)
    x, y = batches[0]
    assert seen[0].dtype == np.uint8  # what a bundle takes
    np.testing.assert_array_equal(seen[0], x)
    hidden = (x == 0).mean(axis=(1, 2, 3))
    assert len(np.unique(hidden)) > 1  # cutouts clipped at the edges hide less: per-view beliefs
    np.testing.assert_allclose(y[:, 1], 0.5 * hidden, rtol=1e-6)


def test_without_teachers_the_targets_are_the_labels():
    pixels = np.zeros((4, 8, 8, 3), np.uint8)
    batches = AugmentedBatches(pixels, np.array([0, 1, 2, 1]), 3, batch_size=4, seed=0)
    _, y = batches[0]
    assert y.sum(axis=1) == pytest.approx(np.ones(4))
    assert sorted(y.argmax(axis=1)) == [0, 1, 1, 2]
