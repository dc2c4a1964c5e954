"""Keras `predict` as the reference the ONNX engine is benchmarked against."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import keras
import numpy as np


def keras_predictor(path: Path) -> Callable[[np.ndarray], np.ndarray] | None:
    """`predict` over a whole batch with the model at `path`, or None if there is none."""
    if not path.is_file():
        return None
    model = keras.models.load_model(path, compile=False)
    return lambda pixels: model.predict(pixels, batch_size=len(pixels), verbose=0)
