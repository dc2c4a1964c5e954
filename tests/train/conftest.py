"""Data the training tests share."""

import numpy as np
import pytest
from PIL import Image

from tests.conftest import write_image


@pytest.fixture(scope="package")
def tiny_dataset(tmp_path_factory):
    root = tmp_path_factory.mktemp("tiny")
    for split, count in (("train", 24), ("test", 6)):
        for c, colour in enumerate(("red", "green", "blue")):
            for i in range(count):
                path = write_image(root / split / colour / f"{i}.png", seed=c * 1000 + i)
                pixels = np.asarray(Image.open(path)).copy()
                pixels[..., c] = 255  # a learnable signal
                Image.fromarray(pixels).save(path)
    return root
