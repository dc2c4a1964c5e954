"""The worker's decode-and-resize function alone on a folder: one core and all cores, with and
without JPEG draft decoding."""

from __future__ import annotations

import os
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

from labeler.imaging import decode_image
from labeler.scan import scan_images


def _decode_all(paths: list[str], size: tuple[int, int], draft: bool) -> int:
    failed = 0
    for path in paths:
        try:
            decode_image(path, size, draft=draft)
        except Exception:  # a benchmark counts failures, it does not stop on them
            failed += 1
    return failed


def bench_decode(folder: Path, size: tuple[int, int] = (32, 32), limit: int | None = None,
                 workers: int | None = None) -> list[dict]:
    files = [str(folder / f.path) for f in scan_images(folder)][:limit]
    if not files:
        return []
    cores = workers or os.cpu_count() or 1
    rows = []
    for draft in (True, False):
        _decode_all(files[:50], size, draft)  # warm the page cache
        start = time.perf_counter()
        _decode_all(files, size, draft)
        one = len(files) / (time.perf_counter() - start)
        chunks = [files[i::cores] for i in range(cores)]
        with ProcessPoolExecutor(cores) as pool:
            list(pool.map(_decode_all, chunks[:1], [size], [draft]))  # start the processes
            start = time.perf_counter()
            list(pool.map(_decode_all, chunks, [size] * cores, [draft] * cores))
            every = len(files) / (time.perf_counter() - start)
        rows.append({"draft": draft, "images": len(files), "cores": cores,
                     "per_core_images_per_second": round(one, 1),
                     "all_cores_images_per_second": round(every, 1)})
    return rows
