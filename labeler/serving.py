"""How a bundle turns a model's logits into the probabilities it serves: the calibration
temperature, and whether the logits are averaged with the mirror image's, for every image or
only for those the model is unsure of.

The exported graph computes this (export/onnx_export.py); the Keras references that the export
checks and the benchmarks time compute it here, in numpy, so both agree by construction.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from labeler.metrics import softmax

MIRROR_MODES = ("none", "always", "unsure")
# bundle.json's `test_time_augmentation` for each mode (the first two predate `unsure`).
_TTA_NAMES = {"none": "none", "always": "flip_average", "unsure": "flip_when_unsure"}


@dataclass(frozen=True)
class Serving:
    temperature: float = 1.0  # for the plain logits
    mirror: str = "none"
    # For logits averaged with the mirror image's (fitted on averaged validation logits).
    mirror_temperature: float | None = None
    # With mirror="unsure": images whose calibrated confidence is below this get a second look.
    unsure_below: float | None = None

    def __post_init__(self) -> None:
        if self.mirror not in MIRROR_MODES:
            raise ValueError(f"mirror must be one of {MIRROR_MODES}, not {self.mirror!r}")
        if self.mirror != "none" and self.mirror_temperature is None:
            raise ValueError("a mirror average needs its own temperature")
        if self.mirror == "unsure" and not 0 < (self.unsure_below or 0) <= 1:
            raise ValueError("mirror='unsure' needs unsure_below in (0, 1]")

    @property
    def passes_at_most(self) -> int:
        """Model passes an image may cost: what the multiply-add budget is checked against."""
        return 1 if self.mirror == "none" else 2

    def probabilities(self, logits_of: Callable[[np.ndarray], np.ndarray],
                      pixels: np.ndarray) -> np.ndarray:
        """What the bundle's graph outputs for NHWC `pixels`, given the model's logits."""
        if self.mirror == "always":  # one call on a double batch, as the graph does
            both = logits_of(np.concatenate([pixels, pixels[:, :, ::-1]]))
            return softmax((both[: len(pixels)] + both[len(pixels):]) / 2,
                           self.mirror_temperature)
        logits = logits_of(pixels)
        probabilities = softmax(logits, self.temperature)
        if self.mirror == "unsure":
            unsure = self.unsure(probabilities)
            if unsure.any():
                mirrored = logits_of(pixels[unsure][:, :, ::-1])
                probabilities[unsure] = softmax((logits[unsure] + mirrored) / 2,
                                                self.mirror_temperature)
        return probabilities

    def unsure(self, probabilities: np.ndarray) -> np.ndarray:
        """Rows whose plain calibrated confidence calls for the mirror image."""
        return probabilities.max(axis=1) < self.unsure_below

    def as_metadata(self) -> dict:
        """The bundle.json fields that describe this (`temperature` is the one a plain graph
        would use, or the averaged one for `always`, as bundles before `unsure` recorded)."""
        meta = {"test_time_augmentation": _TTA_NAMES[self.mirror],
                "temperature": self.mirror_temperature if self.mirror == "always"
                else self.temperature}
        if self.mirror == "unsure":
            meta |= {"flip_temperature": self.mirror_temperature,
                     "flip_below": self.unsure_below}
        return meta

    @classmethod
    def from_metadata(cls, meta: dict) -> Serving:
        tta = meta.get("test_time_augmentation", "none")
        temperature = float(meta.get("temperature", 1.0))
        if tta == "flip_average":
            return cls(temperature, "always", temperature)
        if tta == "flip_when_unsure":
            return cls(temperature, "unsure", float(meta["flip_temperature"]),
                       float(meta["flip_below"]))
        return cls(temperature)
