"""Generated images for benchmarks: no dataset needed, same files in every run.

Small images are noise (the worst case for a 32x32 decoder: nothing compresses). Large ones
imitate photographs, whose cost to decode is set by their compressed size: a random field with
the 1/f spectrum of natural scenes plus sensor noise, saved at quality 90, which lands near
1.5 bits per pixel (about 2.2 MB for 12 MP, between a web photo and a phone camera's file).
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np
from PIL import Image

PHOTO_PIXELS = 256 * 256
OCTAVES = (3, 6, 12, 24, 48, 96, 192, 384)  # cells across the width, coarse to fine


def synthetic_folder(count: int, size: tuple[int, int] = (32, 32),
                     sensor_noise: float = 5.0) -> Path:
    """`count` JPEGs of `size` (height, width) in a new temporary folder."""
    root = Path(tempfile.mkdtemp(prefix="labeler-bench-"))
    rng = np.random.default_rng(0)
    height, width = size
    for i in range(count):
        if height * width > PHOTO_PIXELS:
            pixels = photo_like(size, np.random.default_rng(i), sensor_noise)
        else:
            pixels = rng.integers(0, 256, (height, width, 3), dtype=np.uint8)
        Image.fromarray(pixels).save(root / f"{i:07d}.jpg", quality=90)
    return root


def photo_like(size: tuple[int, int], rng: np.random.Generator,
               sensor_noise: float) -> np.ndarray:
    height, width = size
    # Octaves are summed on a quarter-size canvas and upsampled once: the fine detail that
    # the canvas cannot hold is what the sensor noise stands for.
    canvas = (max(1, width // 4), max(1, height // 4))
    field = np.zeros((canvas[1], canvas[0], 3), np.float32)
    for k, cells in enumerate(OCTAVES):
        grid = rng.normal(0, 1, (cells * height // width + 2, cells + 2, 3)).astype(np.float32)
        grid[..., 1:] = 0.6 * grid[..., :1] + 0.4 * grid[..., 1:]  # colours correlate
        layer = [Image.fromarray(grid[..., c]).resize(canvas, Image.Resampling.BICUBIC)
                 for c in range(3)]
        field += np.stack([np.asarray(a) for a in layer], -1) * (60 / 1.6 ** k)
    full = [np.asarray(Image.fromarray(field[..., c]).resize((width, height),
                                                             Image.Resampling.BICUBIC))
            for c in range(3)]
    image = np.stack(full, -1) + rng.normal(128, sensor_noise, (height, width, 3))
    return np.clip(image, 0, 255).astype(np.uint8)
