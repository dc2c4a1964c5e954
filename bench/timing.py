"""Timing helpers: warm-up, repeated runs, median and spread."""

from __future__ import annotations

import time
from collections.abc import Callable

import numpy as np


def time_repeated(fn: Callable[[], object], repeats: int = 7, min_seconds: float = 0.2,
                  warmup: int = 2) -> dict:
    """Run `fn` `warmup` times, then `repeats` timed rounds (each at least `min_seconds`,
    looping as needed); per-call seconds as median, p10 and p90."""
    for _ in range(warmup):
        fn()
    per_call = []
    for _ in range(repeats):
        calls, start = 0, time.perf_counter()
        while True:
            fn()
            calls += 1
            elapsed = time.perf_counter() - start
            if elapsed >= min_seconds:
                break
        per_call.append(elapsed / calls)
    values = np.array(per_call)
    return {"median_s": float(np.median(values)), "p10_s": float(np.percentile(values, 10)),
            "p90_s": float(np.percentile(values, 90)), "repeats": repeats}
