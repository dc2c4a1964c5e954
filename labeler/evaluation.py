"""Evaluate a model bundle on a labelled image folder through ONNX Runtime (no TensorFlow)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from labeler.bundle import ModelBundle
from labeler.datasets import load_image_folder
from labeler.engine import InferenceEngine
from labeler.errors import LabelerError
from labeler.metrics import (
    confusion_matrix,
    ece_interval,
    expected_calibration_error,
    per_class_report,
)


def evaluate_bundle(
    bundle: ModelBundle, folder: Path, precision: str = "fp32", batch_size: int = 256
) -> dict:
    """Decode a labelled folder (`<class>/<image>`) and score the bundle's predictions."""
    data = load_image_folder(Path(folder), bundle.input_size)
    if not set(data.classes) <= set(bundle.classes):
        raise LabelerError(f"folder classes {data.classes} are not the bundle's {bundle.classes}")
    # Map folder class indices to the bundle's order, so folders may hold a subset.
    to_bundle = np.array([bundle.classes.index(c) for c in data.classes])
    labels = to_bundle[data.labels]
    engine = InferenceEngine(bundle, precision=precision, provider="cpu")
    probs = np.concatenate([engine.run(data.pixels[i : i + batch_size])
                            for i in range(0, len(labels), batch_size)])
    return classification_report(labels, probs.argmax(1), probs.max(1), bundle.classes,
                                 engine.model_id)


def score_job(items, classes: tuple[str, ...]) -> dict:
    """Score a finished job's labels against the class folder each image sits in (the first
    part of its path), e.g. a job over CIFAR-10's `test/<class>/*.jpg`."""
    labels, predicted, confidences, models, skipped = [], [], [], set(), 0
    for path, result, _error in items:
        truth = path.split("/")[0]
        if result is None or truth not in classes:
            skipped += 1
            continue
        labels.append(classes.index(truth))
        predicted.append(classes.index(result.label))
        confidences.append(result.confidence)
        models.add(result.model)
    if not labels:
        raise LabelerError("no labelled image sits in a folder named after a class")
    report = classification_report(np.array(labels), np.array(predicted),
                                   np.array(confidences), classes, ", ".join(sorted(models)))
    report["not_scored"] = skipped
    return report


def classification_report(labels: np.ndarray, predicted: np.ndarray, confidences: np.ndarray,
                          classes: tuple[str, ...], model: str) -> dict:
    ece, bins = expected_calibration_error(confidences, predicted == labels)
    matrix = confusion_matrix(labels, predicted, len(classes))
    return {
        "images": int(len(labels)),
        "top1": float((predicted == labels).mean()),
        "ece": ece,
        "ece_95": ece_interval(confidences, predicted == labels),
        "reliability": bins,
        "confusion": matrix.tolist(),
        "per_class": per_class_report(matrix, classes),
        "model": model,
    }


def write_report(result: dict, classes: tuple[str, ...], folder: Path) -> None:
    import json

    folder.mkdir(parents=True, exist_ok=True)
    (folder / "report.json").write_text(json.dumps(result, indent=2) + "\n")
    matrix = np.array(result["confusion"])
    lines = ["true \\ predicted  " + " ".join(f"{c[:6]:>6s}" for c in classes)]
    lines += [f"{c:17s} " + " ".join(f"{v:6d}" for v in row)
              for c, row in zip(classes, matrix, strict=True)]
    (folder / "confusion.txt").write_text("\n".join(lines) + "\n")
    from labeler.report_plots import plot_confusion, plot_reliability

    plot_confusion(matrix, classes, folder / "confusion.png")
    plot_reliability(result["reliability"], result["ece"], folder / "reliability.png")
