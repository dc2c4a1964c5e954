"""The bank of teacher-judged views: each view travels with the beliefs about that view."""

import numpy as np

from labeler.training.augment import AugmentedBatches
from labeler.training.views import TeacherViews, draw_views


def test_a_batch_pairs_each_view_with_the_teachers_beliefs_about_it():
    count, images, classes = 4, 64, 4
    views = np.zeros((count, images, 8, 8, 3), np.uint8)
    probabilities = np.zeros((count, images, classes), np.float32)
    for view in range(count):
        views[view] = 10 * view + 1  # each view recognisable by its pixels
        probabilities[view, :, view] = 1.0  # and by what the teachers say about it
    views[:, :, 0, 0, 0] = np.arange(images)  # and each image by one pixel
    rows = np.random.default_rng(0).permutation(images)[:48]
    x, beliefs = TeacherViews(views, probabilities).batch(rows, np.random.default_rng(1))
    np.testing.assert_array_equal(x[:, 0, 0, 0], rows)
    drawn = (x[:, 1, 1, 0] - 1) // 10
    assert len(np.unique(drawn)) == count  # views drawn per image, not one per batch
    np.testing.assert_array_equal(beliefs.argmax(axis=1), drawn)


def test_views_are_the_same_for_the_same_seed_and_differ_from_each_other():
    pixels = np.random.default_rng(0).integers(0, 256, (16, 8, 8, 3), dtype=np.uint8)
    first = draw_views(pixels, 3, seed=7, pad=2, cutout=4)
    assert first.shape == (3, 16, 8, 8, 3) and first.dtype == np.uint8
    np.testing.assert_array_equal(first, draw_views(pixels, 3, seed=7, pad=2, cutout=4))
    assert not np.array_equal(first[0], first[1])
    assert not np.array_equal(first, draw_views(pixels, 3, seed=8, pad=2, cutout=4))


def test_batches_train_on_the_bank_with_targets_mixed_from_its_beliefs():
    images, classes = 32, 2
    views = np.stack([np.full((images, 8, 8, 3), value, np.uint8) for value in (50, 150)])
    probabilities = np.zeros((2, images, classes), np.float32)
    probabilities[1, :, 1] = 1.0  # the second view "looks like" class 1
    probabilities[0, :, 0] = 1.0
    batches = AugmentedBatches(views[0], np.zeros(images, int), classes, batch_size=images,
                               seed=2, views=TeacherViews(views, probabilities),
                               teacher_weight=0.75)
    x, y = batches[0]
    second = x[:, 0, 0, 0] == 150
    assert 0 < second.sum() < images
    np.testing.assert_allclose(y[:, 1], np.where(second, 0.75, 0.0), rtol=1e-6)
    np.testing.assert_allclose(y.sum(axis=1), 1.0, rtol=1e-6)
