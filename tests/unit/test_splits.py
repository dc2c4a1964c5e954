"""Held-out splits that do not flatter: a given val/ used as given, runs of consecutive files,
near-copies kept together, a split that looks too easy never sharpening the confidences; and
the input side read from the images."""

import numpy as np


def test_held_out_runs_are_per_class_seeded_and_keep_groups_whole():
    from labeler.splits import held_out_runs

    labels = np.repeat(np.arange(3), 10)
    groups = np.arange(30)
    groups[[3, 4, 5]] = 3  # one picture saved three times
    held = held_out_runs(labels, groups, 0.2, np.random.default_rng(0))
    assert min(np.bincount(labels[held], minlength=3)) >= 2
    assert held[[3, 4, 5]].all() or not held[[3, 4, 5]].any()
    for label in range(3):  # one run of consecutive files (wrapping round) per class
        picked = np.flatnonzero(held[labels == label])
        assert (np.diff(picked) == 1).sum() >= len(picked) - 2
    again = held_out_runs(labels, groups, 0.2, np.random.default_rng(0))
    assert np.array_equal(held, again)


def test_near_copies_share_a_group_and_strangers_do_not():
    from labeler.splits import near_copy_groups

    rng = np.random.default_rng(0)
    pictures = rng.integers(0, 256, (6, 32, 32, 3)).astype(np.uint8)
    # The first picture again, as a re-encoding leaves it: every pixel off by a level or two.
    again = np.clip(pictures[0].astype(int) + rng.integers(-2, 3, (32, 32, 3)), 0, 255)
    groups = near_copy_groups(np.concatenate([pictures, again[None].astype(np.uint8)]))
    assert groups[6] == groups[0] and len(set(groups[:6])) == 6


def test_a_given_val_folder_is_used_as_given_and_a_split_too_small_is_refused(tmp_path):
    import pytest

    from labeler.errors import LabelerError
    from labeler.splits import GIVEN, held_out_split
    from tests.conftest import write_image

    for split, count in (("train", 3), ("val", 2)):
        for name in ("a", "b"):
            for i in range(count):
                write_image(tmp_path / "data" / split / name / f"{i}.png", seed=i, fmt="PNG")
    chosen = held_out_split(str(tmp_path / "data"), (32, 32), 0.1, seed=0)
    assert chosen.how == GIVEN and (len(chosen.train), len(chosen.held_out)) == (6, 4)
    write_image(tmp_path / "one" / "a" / "0.png", seed=0, fmt="PNG")
    write_image(tmp_path / "one" / "b" / "0.png", seed=1, fmt="PNG")
    with pytest.raises(LabelerError, match="too few"):
        held_out_split(str(tmp_path / "one"), (32, 32), 0.1, seed=0)


def test_a_split_that_looks_too_easy_never_sharpens_the_confidences(capsys):
    from labeler.datasets import LabelledImages
    from labeler.splits import GIVEN, IN_SET, Split
    from labeler.training.calibration import honest_calibration

    rng = np.random.default_rng(0)
    labels = rng.integers(0, 3, 200)
    logits = np.eye(3)[labels] * 2.0 + rng.normal(0, 0.1, (200, 3))  # right, and unsure
    held = LabelledImages(np.zeros((200, 1, 1, 3), np.uint8), labels, ("a", "b", "c"))
    inside = Split(held, held, IN_SET, np.arange(200))
    calibration = honest_calibration(logits, inside)
    assert calibration["looks_too_easy"] and calibration["fitted_temperature"] < 1
    assert calibration["temperature"] == 1.0
    assert "near-copies" in capsys.readouterr().out
    given = honest_calibration(logits, Split(held, held, GIVEN, np.arange(200)))
    assert given["temperature"] < 1 and "looks_too_easy" not in given
    low, high = given["val_ece_after_95"]
    assert low <= given["val_ece_after"] <= high


def test_the_input_side_comes_from_the_images_headers(tmp_path):
    from labeler.datasets import typical_short_side
    from tests.conftest import write_image

    for i in range(3):
        write_image(tmp_path / "photos" / "train" / "a" / f"{i}.jpg", seed=i, size=(400, 300))
        write_image(tmp_path / "tiny" / "a" / f"{i}.png", seed=i, fmt="PNG")
    (tmp_path / "batches" / "cifar-10-batches-py").mkdir(parents=True)
    assert typical_short_side(str(tmp_path / "photos")) == 300
    assert typical_short_side(str(tmp_path / "tiny")) == 32
    assert typical_short_side(str(tmp_path / "batches")) is None
    assert typical_short_side("keras") is None
