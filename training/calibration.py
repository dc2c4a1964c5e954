"""The confidence temperature a run ends with: fitted on its held-out images (never sharpened
on a split that looks too easy), or borrowed from a twin run when nothing was held out."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from labeler.errors import LabelerError
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


def borrowed_calibration(run: str | None) -> dict:
    """The temperatures of a twin run (same recipe, a split held out) for a run that held out
    nothing: the recipe, not the last 10 % of the data, sets how over-confident a model ends
    (T = 0.55-0.59 in every whitened run here). ECE cannot be measured without held-out
    images, so none is claimed; `labeler evaluate` on a test set measures it."""
    path = Path(run) / "calibration.json" if run else None
    if path is None or not path.is_file():
        raise LabelerError(
            "--val-fraction 0 leaves no images to fit the confidence temperature on: pass "
            "--calibration-from RUN, a finished run of the same recipe that held out a split"
            + (f" ({path} does not exist)" if path else ""))
    twin = json.loads(path.read_text())
    borrowed = {"temperature": twin["temperature"], "temperature_from": str(Path(run))}
    if "flip_average" in twin:
        borrowed["flip_average"] = {"temperature": twin["flip_average"]["temperature"]}
    return borrowed
