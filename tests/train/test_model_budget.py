"""The presets meant for the default model stay inside its budget for a 32x32 image: at most
1 M parameters and 150 M multiply-adds (with 2 views: a net that can afford a second
look at its mirror image, for every image or for the unsure ones)."""

import pytest

from labeler.training.macs import count_macs
from labeler.training.models import PRESETS


@pytest.mark.parametrize("preset, views", [("whitened", 2), ("wrn16", 1)])
def test_a_default_candidate_fits_the_edge_budget(preset, views):
    model = PRESETS[preset]((32, 32, 3), 10)
    assert model.count_params() <= 1_000_000
    assert 0 < views * count_macs(model) <= 150_000_000


def test_the_photo_default_fits_the_budget_with_a_second_look_at_its_side():
    from labeler.training.recipe import PHOTO_SIDE

    model = PRESETS["whitened"]((PHOTO_SIDE, PHOTO_SIDE, 3), 10)
    assert model.get_layer("whiten").strides == (2, 2)
    assert model.count_params() <= 1_000_000
    assert 0 < 2 * count_macs(model) <= 150_000_000  # with the mirror image's second look


def test_the_cli_offers_exactly_the_presets():
    from labeler.cli.model_cmd import PRESET_NAMES

    assert tuple(PRESETS) == PRESET_NAMES
