"""Classification and calibration metrics on plain numpy arrays (no TensorFlow needed)."""

from __future__ import annotations

import numpy as np


def softmax(logits: np.ndarray, temperature: float = 1.0) -> np.ndarray:
    z = logits / temperature
    z = z - z.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


def negative_log_likelihood(logits: np.ndarray, labels: np.ndarray, temperature: float) -> float:
    p = softmax(logits, temperature)[np.arange(len(labels)), labels]
    return float(-np.log(np.clip(p, 1e-12, 1.0)).mean())


def fit_temperature(logits: np.ndarray, labels: np.ndarray) -> float:
    """The softmax temperature that minimises validation NLL (Guo et al., 2017).

    NLL is convex in 1/T, so a golden-section search over log T is enough and needs no optimiser.
    """
    lo, hi = np.log(0.05), np.log(20.0)
    ratio = (np.sqrt(5) - 1) / 2
    a, b = hi - ratio * (hi - lo), lo + ratio * (hi - lo)
    for _ in range(60):
        if negative_log_likelihood(logits, labels, np.exp(a)) < negative_log_likelihood(
            logits, labels, np.exp(b)
        ):
            hi, b = b, a
            a = hi - ratio * (hi - lo)
        else:
            lo, a = a, b
            b = lo + ratio * (hi - lo)
    return float(np.exp((lo + hi) / 2))


def calibrate(logits: np.ndarray, labels: np.ndarray) -> dict:
    """The fitted temperature, with accuracy and ECE before and after it, for one set of logits."""
    temperature = fit_temperature(logits, labels)
    summary = {"temperature": temperature}
    for name, t in (("before", 1.0), ("after", temperature)):
        probs = softmax(logits, t)
        summary[f"val_ece_{name}"], _ = expected_calibration_error(
            probs.max(1), probs.argmax(1) == labels)
    probs = softmax(logits, temperature)
    summary["val_ece_after_95"] = ece_interval(probs.max(1), probs.argmax(1) == labels)
    summary["val_accuracy"] = float((logits.argmax(1) == labels).mean())
    summary["val_images"] = len(labels)
    return summary


def expected_calibration_error(
    confidences: np.ndarray, correct: np.ndarray, bins: int = 15
) -> tuple[float, list[dict]]:
    """ECE over equal-width confidence bins, and the per-bin table for a reliability diagram."""
    edges = np.linspace(0.0, 1.0, bins + 1)
    table, ece = [], 0.0
    for lo, hi in zip(edges[:-1], edges[1:], strict=True):
        inside = (confidences > lo) & (confidences <= hi)
        count = int(inside.sum())
        if count:
            accuracy = float(correct[inside].mean())
            confidence = float(confidences[inside].mean())
            ece += count / len(confidences) * abs(accuracy - confidence)
        else:
            accuracy = confidence = 0.0
        table.append({"lo": float(lo), "hi": float(hi), "count": count,
                      "accuracy": accuracy, "confidence": confidence})
    return float(ece), table


def ece_interval(confidences: np.ndarray, correct: np.ndarray, bins: int = 15,
                 rounds: int = 1000, seed: int = 0) -> tuple[float, float]:
    """A 95 % bootstrap interval of the ECE: on a few hundred images the ECE itself moves by
    a point or more with which images happen to be in the set."""
    rng = np.random.default_rng(seed)
    draws = rng.integers(0, len(confidences), (rounds, len(confidences)))
    values = [expected_calibration_error(confidences[d], correct[d], bins)[0] for d in draws]
    low, high = np.quantile(values, [0.025, 0.975])
    return float(low), float(high)


def confusion_matrix(labels: np.ndarray, predicted: np.ndarray, num_classes: int) -> np.ndarray:
    matrix = np.zeros((num_classes, num_classes), dtype=np.int64)
    np.add.at(matrix, (labels, predicted), 1)
    return matrix


def per_class_report(matrix: np.ndarray, classes: tuple[str, ...]) -> list[dict]:
    rows = []
    for i, name in enumerate(classes):
        tp = matrix[i, i]
        precision = tp / matrix[:, i].sum() if matrix[:, i].sum() else 0.0
        recall = tp / matrix[i].sum() if matrix[i].sum() else 0.0
        f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
        rows.append({"class": name, "precision": float(precision), "recall": float(recall),
                     "f1": float(f1), "support": int(matrix[i].sum())})
    return rows
