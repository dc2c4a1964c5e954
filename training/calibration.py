"""The confidence temperature a run ends with: fitted on its held-out images, and never
sharpened on a split that looks too easy."""

from __future__ import annotations

import numpy as np

from labeler.metrics import calibrate
from labeler.splits import Split


def honest_calibration(logits: np.ndarray, split: Split, *, say: bool = True) -> dict:
    """The temperature fitted on the held-out images, except that a held-out set from inside
    the training folder that scores near 100 % (near-copies on both sides, most likely) is
    said out loud (unless `say` is off) and never allowed to sharpen the confidences
    (temperature at least 1)."""
    calibration = calibrate(logits, split.held_out.labels)
    if not split.looks_too_easy(calibration["val_accuracy"]):
        return calibration
    fitted = calibration["temperature"]
    if say:
        print(f"warning: the held-out images scored {calibration['val_accuracy']:.1%}, which "
              "usually means near-copies of them are in training (photos shot in bursts); "
              f"the confidences are not sharpened on them (temperature {fitted:.2f} -> "
              f"{max(fitted, 1.0):.2f}). For honest confidences give a val/ folder of photos "
              "taken apart from train/.", flush=True)
    calibration.update(looks_too_easy=True, fitted_temperature=fitted,
                       temperature=max(fitted, 1.0))
    return calibration
