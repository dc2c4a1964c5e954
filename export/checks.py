"""Checks every exported variant must pass: agreement with Keras, and what it costs to run."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np


def cpu_session(path: Path, threads: int = 0):
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.log_severity_level = 3
    return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


def run_batches(ort_session, pixels: np.ndarray, batch_size: int = 256) -> np.ndarray:
    name = ort_session.get_inputs()[0].name
    return np.concatenate([ort_session.run(None, {name: pixels[i : i + batch_size]})[0]
                           for i in range(0, len(pixels), batch_size)])


# A confidence this close to a multiple of 1/255 sits on an 8-bit grid.
GRID_TOLERANCE = 1e-5


def share_on_8bit_grid(confidences: np.ndarray) -> float:
    """The share of confidences within GRID_TOLERANCE of a multiple of 1/255. Float outputs put
    ~0.5 % there by chance plus the near-certain ones beside 1.0; 8-bit outputs put all."""
    scaled = np.asarray(confidences, np.float64) * 255
    return float((np.abs(scaled - np.round(scaled)) / 255 < GRID_TOLERANCE).mean())


def agreement(path: Path, pixels: np.ndarray, reference: np.ndarray,
              labels: np.ndarray | None = None) -> dict:
    """Agreement with reference probabilities (top-1, largest and median per-image |Δp|), the
    share of confidences on an 8-bit grid, and with labels the variant's own ECE."""
    from labeler.metrics import expected_calibration_error

    probs = run_batches(cpu_session(path), pixels)
    per_image = np.abs(probs - reference).max(1)
    checks = {
        "images": int(len(pixels)),
        "top1_agreement": float((probs.argmax(1) == reference.argmax(1)).mean()),
        "max_abs_diff": float(per_image.max()),
        "median_abs_diff": float(np.median(per_image)),
        "confidences_on_8bit_grid": share_on_8bit_grid(probs.max(1)),
    }
    if labels is not None:
        checks["ece"], _ = expected_calibration_error(probs.max(1), probs.argmax(1) == labels)
        checks["top1"] = float((probs.argmax(1) == labels).mean())
    return checks


def throughput(paths: dict[str, Path], pixels: np.ndarray, batch_size: int = 64,
               rounds: int = 5, seconds: float = 0.5) -> dict[str, float]:
    """CPU images/s per variant at one batch size; variants interleaved round by round so a
    noisy machine slows them alike, and the median round is reported."""
    batch = np.resize(pixels, (batch_size, *pixels.shape[1:]))
    sessions = {name: cpu_session(path) for name, path in paths.items()}
    for ort_session in sessions.values():
        run_batches(ort_session, batch, batch_size)
    rates: dict[str, list[float]] = {name: [] for name in sessions}
    for _ in range(rounds):
        for name, ort_session in sessions.items():
            count, start = 0, time.perf_counter()
            while time.perf_counter() - start < seconds:
                run_batches(ort_session, batch, batch_size)
                count += batch_size
            rates[name].append(count / (time.perf_counter() - start))
    return {name: float(np.median(r)) for name, r in rates.items()}
