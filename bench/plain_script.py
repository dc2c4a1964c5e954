"""The reference the pipeline is held against: the script a careful user would write instead
of labeler. A multiprocessing pool, one process per core, each with one ONNX Runtime
InferenceSession of one thread on the same model file; Pillow with JPEG draft decoding;
batches of 64; the labels gathered in the parent. No queue, no Redis, no per-image bookkeeping."""

from __future__ import annotations

import multiprocessing
import os
import time
from pathlib import Path

import numpy as np

from labeler.bench.stolen import stolen_seconds, stolen_since
from labeler.scan import scan_images

_session = None


def _start(model: str) -> None:
    global _session
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = options.inter_op_num_threads = 1
    _session = ort.InferenceSession(model, options, providers=["CPUExecutionProvider"])


def _label(task: tuple[list[str], tuple[int, int]]) -> list[tuple[str, int, float]]:
    from PIL import Image

    paths, (height, width) = task
    pixels = []
    for path in paths:
        with Image.open(path) as image:
            image.draft("RGB", (width, height))
            pixels.append(np.asarray(image.convert("RGB").resize((width, height),
                                                                 Image.Resampling.BILINEAR)))
    name = _session.get_inputs()[0].name
    probs = _session.run(None, {name: np.stack(pixels)})[0]
    return list(zip(paths, probs.argmax(1).tolist(), probs.max(1).tolist(), strict=True))


def plain_script(folder: Path, model: Path, size: tuple[int, int], batch: int = 64,
                 processes: int | None = None) -> dict:
    """Images/s of that script over `folder`, its pool warm (sessions made) before timing,
    and the CPU seconds stolen from the machine while it ran (None where not counted)."""
    processes = processes or os.cpu_count() or 1
    context = multiprocessing.get_context("fork")
    with context.Pool(processes, initializer=_start, initargs=(str(model),)) as pool:
        warm = [str(folder / f.path) for f in scan_images(folder)[:batch]]
        pool.map(_label, [(warm, size)] * processes)
        stolen, started = stolen_seconds(), time.perf_counter()
        paths = [str(folder / f.path) for f in scan_images(folder)]
        tasks = [(paths[i:i + batch], size) for i in range(0, len(paths), batch)]
        labelled = sum(len(rows) for rows in pool.imap_unordered(_label, tasks))
        seconds = time.perf_counter() - started
        stolen = stolen_since(stolen)
    return {"images": labelled, "seconds": round(seconds, 3),
            "images_per_second": round(labelled / seconds, 1), "processes": processes,
            "stolen_seconds": stolen}
