"""The serving rule the exported graph follows (the graph itself: tests/train)."""

import numpy as np
import pytest

from labeler.metrics import softmax
from labeler.serving import Serving


def _mirror_aware_logits(calls: list[int]):
    """Logits that differ between an image and its mirror, counting the rows each call sees."""
    def logits_of(pixels: np.ndarray) -> np.ndarray:
        calls.append(len(pixels))
        left = pixels[:, :, :16].mean(axis=(1, 2, 3))
        right = pixels[:, :, 16:].mean(axis=(1, 2, 3))
        return np.stack([left / 10, right / 10, np.zeros(len(pixels))], axis=1)
    return logits_of


def _pixels() -> np.ndarray:
    pixels = np.zeros((4, 8, 32, 3), np.float32)
    pixels[0, :, :16] = 200  # sure: bright on the left only
    pixels[1, :, :16], pixels[1, :, 16:] = 60, 50  # unsure: nearly even
    pixels[2, :, 16:] = 200  # sure: bright on the right only
    pixels[3] = 10  # unsure: flat
    return pixels


def test_only_the_unsure_images_get_the_mirror_average_with_its_own_temperature():
    calls: list[int] = []
    logits_of = _mirror_aware_logits(calls)
    pixels = _pixels()
    serving = Serving(temperature=2.0, mirror="unsure", mirror_temperature=0.5, unsure_below=0.9)
    served = serving.probabilities(logits_of, pixels)

    plain = softmax(logits_of(pixels), 2.0)
    mirrored = softmax((logits_of(pixels) + logits_of(pixels[:, :, ::-1])) / 2, 0.5)
    unsure = plain.max(axis=1) < 0.9
    assert unsure.tolist() == [False, True, False, True]
    np.testing.assert_allclose(served[~unsure], plain[~unsure])
    np.testing.assert_allclose(served[unsure], mirrored[unsure])
    assert calls[:2] == [4, 2]  # the second pass saw the two unsure images only


def test_every_image_averaged_in_one_call_and_nothing_averaged_without_a_mirror():
    calls: list[int] = []
    logits_of = _mirror_aware_logits(calls)
    pixels = _pixels()
    always = Serving(2.0, "always", 0.5).probabilities(logits_of, pixels)
    assert calls == [8]  # one double batch, as the graph runs it
    expected = softmax((logits_of(pixels) + logits_of(pixels[:, :, ::-1])) / 2, 0.5)
    np.testing.assert_allclose(always, expected)
    np.testing.assert_allclose(Serving(2.0).probabilities(logits_of, pixels),
                               softmax(logits_of(pixels), 2.0))


@pytest.mark.parametrize("serving", [
    Serving(0.6), Serving(0.6, "always", 0.55), Serving(0.6, "unsure", 0.55, 0.9)])
def test_the_bundle_metadata_describes_the_rule_completely(serving):
    assert Serving.from_metadata(serving.as_metadata()) == Serving(
        serving.mirror_temperature if serving.mirror == "always" else serving.temperature,
        serving.mirror, serving.mirror_temperature, serving.unsure_below)
    assert serving.passes_at_most == (1 if serving.mirror == "none" else 2)


def test_a_bundle_from_before_the_mirror_modes_reads_as_plain():
    assert Serving.from_metadata({"temperature": 0.58}) == Serving(0.58)


@pytest.mark.parametrize("kwargs, message", [
    ({"mirror": "sometimes"}, "mirror must be one of"),
    ({"mirror": "always"}, "its own temperature"),
    ({"mirror": "unsure", "mirror_temperature": 0.5}, "unsure_below"),
    ({"mirror": "unsure", "mirror_temperature": 0.5, "unsure_below": 1.5}, "unsure_below"),
])
def test_an_incomplete_rule_is_refused(kwargs, message):
    with pytest.raises(ValueError, match=message):
        Serving(1.0, **kwargs)
