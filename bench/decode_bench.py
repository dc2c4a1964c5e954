"""The worker's decode-and-resize function alone on a folder: one core and all cores, with and
without JPEG draft decoding."""

from __future__ import annotations

import os
import statistics
import time
from concurrent.futures import ProcessPoolExecutor
from functools import partial
from pathlib import Path

from labeler.imaging import decode_image
from labeler.scan import scan_images

ROUNDS = 3


def _decode_all(paths: list[str], size: tuple[int, int], *, draft: bool) -> int:
    failed = 0
    for path in paths:
        try:
            decode_image(path, size, draft=draft)
        except Exception:  # a benchmark counts failures, it does not stop on them
            failed += 1
    return failed


def _rate(paths: list[str], size: tuple[int, int], *, draft: bool) -> tuple[float, float]:
    """Images per wall-clock second, and CPU milliseconds per image: on a shared machine the
    second leaves out the time a neighbour held the core."""
    start, cpu_start = time.perf_counter(), time.process_time()
    _decode_all(paths, size, draft=draft)
    cpu_ms = (time.process_time() - cpu_start) * 1000 / len(paths)
    return len(paths) / (time.perf_counter() - start), cpu_ms


def bench_decode(folder: Path, size: tuple[int, int] = (32, 32), limit: int | None = None,
                 workers: int | None = None) -> list[dict]:
    """Images/s per core and on all cores, draft on and off. Per core, the two modes take
    turns over several rounds (median kept), so a neighbour's load hits both alike."""
    scanned = scan_images(folder)[:limit]
    files = [str(folder / f.path) for f in scanned]
    if not files:
        return []
    mean_bytes = sum(f.size for f in scanned) / len(scanned)
    cores = workers or os.cpu_count() or 1
    modes = (True, False)
    for draft in modes:
        _decode_all(files[:50], size, draft=draft)  # warm the page cache and the code paths
    per_core = {draft: [] for draft in modes}
    for _ in range(ROUNDS):
        for draft in modes:
            per_core[draft].append(_rate(files, size, draft=draft))
    rows = []
    chunks = [files[i::cores] for i in range(cores)]
    with ProcessPoolExecutor(cores) as pool:
        list(pool.map(partial(_decode_all, size=size, draft=True), chunks[:1]))  # start them
        for draft in modes:
            start = time.perf_counter()
            list(pool.map(partial(_decode_all, size=size, draft=draft), chunks))
            every = len(files) / (time.perf_counter() - start)
            rows.append({"draft": draft, "images": len(files), "cores": cores,
                         "mean_file_kb": round(mean_bytes / 1024, 1),
                         "per_core_images_per_second": round(
                             statistics.median(r for r, _ in per_core[draft]), 1),
                         "per_core_cpu_ms_per_image": round(
                             statistics.median(ms for _, ms in per_core[draft]), 2),
                         "all_cores_images_per_second": round(every, 1)})
    return rows
