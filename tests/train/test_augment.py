"""CutMix on a batch: pixels come from the image or its partner, targets follow the pixels."""

import numpy as np
import pytest

from labeler.training.augment import AugmentedBatches, cut_mix


def test_cut_mix_targets_are_the_share_of_pixels_from_each_image():
    n, side, classes = 8, 32, 10
    batch = np.repeat(np.arange(n, dtype=np.uint8)[:, None, None, None], side * side * 3)
    batch = batch.reshape(n, side, side, 3)  # every pixel of image i holds the value i
    targets = np.eye(classes, dtype=np.float32)[np.arange(n)]
    images_mixed = 0
    for seed in range(20):
        mixed, mixed_targets = cut_mix(batch, targets, np.random.default_rng(seed))
        for i in range(n):
            values, counts = np.unique(mixed[i, :, :, 0], return_counts=True)
            shares = dict(zip(values.tolist(), (counts / side**2).tolist(), strict=True))
            expected = {c: float(mixed_targets[i, c]) for c in np.flatnonzero(mixed_targets[i])}
            assert shares.keys() == expected.keys()
            images_mixed += len(shares) == 2
            for value, share in shares.items():
                assert expected[value] == pytest.approx(share, abs=1e-6)
        np.testing.assert_allclose(mixed_targets.sum(1), 1.0, rtol=1e-6)
    assert images_mixed > 100  # of 160: only partners drawn as themselves stay whole
    assert batch[3, 0, 0, 0] == 3  # the input batch is left as it was


def test_cut_mix_applies_to_the_given_share_of_batches_only():
    pixels = np.random.default_rng(0).integers(0, 256, (64, 32, 32, 3), dtype=np.uint8)
    labels = np.arange(64) % 10
    plain = AugmentedBatches(pixels, labels, 10, 8, seed=1)

    def mixed_batches(share: float) -> int:
        batches = AugmentedBatches(pixels, labels, 10, 8, seed=1, cutmix=share)
        return sum(int((batches[i][0] != plain[i][0]).any()) for i in range(len(batches)))

    assert mixed_batches(0.0) == 0
    assert mixed_batches(1.0) == len(plain)
