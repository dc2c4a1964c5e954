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


def run_batches(session, pixels: np.ndarray, batch_size: int = 256) -> np.ndarray:
    name = session.get_inputs()[0].name
    return np.concatenate([session.run(None, {name: pixels[i : i + batch_size]})[0]
                           for i in range(0, len(pixels), batch_size)])


def agreement(path: Path, pixels: np.ndarray, reference: np.ndarray) -> dict:
    """Top-1 agreement and largest probability difference against reference probabilities."""
    probs = run_batches(cpu_session(path), pixels)
    return {
        "images": int(len(pixels)),
        "top1_agreement": float((probs.argmax(1) == reference.argmax(1)).mean()),
        "max_abs_diff": float(np.abs(probs - reference).max()),
    }


def throughput(paths: dict[str, Path], pixels: np.ndarray, batch_size: int = 64,
               rounds: int = 5, seconds: float = 0.5) -> dict[str, float]:
    """CPU images/s per variant at one batch size; variants interleaved round by round so a
    noisy machine slows them alike, and the median round is reported."""
    batch = np.resize(pixels, (batch_size, *pixels.shape[1:]))
    sessions = {name: cpu_session(path) for name, path in paths.items()}
    for session in sessions.values():
        run_batches(session, batch, batch_size)
    rates: dict[str, list[float]] = {name: [] for name in sessions}
    for _ in range(rounds):
        for name, session in sessions.items():
            count, start = 0, time.perf_counter()
            while time.perf_counter() - start < seconds:
                run_batches(session, batch, batch_size)
                count += batch_size
            rates[name].append(count / (time.perf_counter() - start))
    return {name: float(np.median(r)) for name, r in rates.items()}
