"""One image at a time as a reference: open one image with Pillow, resize it, call Keras
`predict` on it alone, repeat. What the pipeline is measured against."""

from __future__ import annotations

import os
import time
from pathlib import Path

import numpy as np
from PIL import Image

from labeler.scan import scan_images
from labeler.serving import Serving


def bench_habit(folder: Path, keras_model: Path, size: tuple[int, int],
                limit: int = 200, serving: Serving | None = None) -> dict | None:
    """Images/s of the one-at-a-time loop on the first `limit` images, or None without
    TensorFlow (the [train] extra) or without the bundle's Keras model. It computes what the
    bundle's graph does (`serving`: a mirror average too, for every image or the unsure ones)."""
    serving = serving or Serving()
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # TensorFlow's start-up chatter
    try:
        import keras
    except ImportError:
        return None
    if not keras_model.is_file():
        return None
    model = keras.models.load_model(keras_model, compile=False)
    files = [folder / f.path for f in scan_images(folder)[:limit]]
    height, width = size

    def label(path: Path) -> int:
        with Image.open(path) as im:
            pixels = np.asarray(im.convert("RGB").resize((width, height)), dtype=np.float32)
        probabilities = serving.probabilities(lambda x: model.predict(x, verbose=0),
                                              pixels[None])
        return int(np.argmax(probabilities))

    for path in files[:3]:  # build the predict function before timing
        label(path)
    start = time.perf_counter()
    for path in files:
        label(path)
    seconds = time.perf_counter() - start
    return {"images": len(files), "seconds": round(seconds, 3),
            "images_per_second": round(len(files) / seconds, 1)}
