"""Keras `predict` as the reference: for calibration, for the export's checks and for the
benchmark's ONNX-vs-Keras figure. One place computes a model's logits, flip average or not."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import keras
import numpy as np

from labeler.serving import Serving


def predict_logits(model: keras.Model, pixels: np.ndarray, *, flip_average: bool = False,
                   batch_size: int = 512) -> np.ndarray:
    """Logits for NHWC pixels; with `flip_average`, the mean of the image's and its mirror's."""
    pixels = pixels.astype(np.float32)
    logits = model.predict(pixels, batch_size=batch_size, verbose=0)
    if flip_average:
        logits = (logits + model.predict(pixels[:, :, ::-1], batch_size=batch_size, verbose=0)) / 2
    return logits


def keras_predictor(path: Path, serving: Serving
                    ) -> Callable[[np.ndarray], np.ndarray] | None:
    """The probabilities a bundle serves, computed with `predict` over a whole batch by the
    model at `path`, or None if there is none."""
    if not path.is_file():
        return None
    model = keras.models.load_model(path, compile=False)
    return lambda pixels: serving.probabilities(
        lambda x: predict_logits(model, x, batch_size=len(x)), pixels)
