"""End to end through Redis and the running workers, beside the decode-only and model-only
ceilings measured in the same run."""

from __future__ import annotations

import os
import shutil
import time
from pathlib import Path

import numpy as np

from labeler.bench.decode_bench import bench_decode
from labeler.bench.habit_bench import bench_habit
from labeler.bench.plain_script import plain_script
from labeler.bench.stolen import stolen_seconds, stolen_since, unstolen_rate
from labeler.bench.synthetic import synthetic_folder
from labeler.bench.timing import time_repeated
from labeler.bundle import ModelBundle
from labeler.context import Context
from labeler.engine import InferenceEngine, choose_providers, default_precision
from labeler.errors import DecodeError
from labeler.imaging import decode_image
from labeler.scan import scan_images
from labeler.serving import Serving
from labeler.waiting import submit_and_wait


def model_ceiling(bundle: ModelBundle, precision: str, folder: Path | None = None,
                  batch: int = 64, batches: int = 4) -> float:
    """Images/s of the engine on one core (one ORT thread), on images spread over `folder`
    (a graph that takes a second look at unsure images costs what the images make it cost;
    random pixels would all be unsure), or on random pixels without one."""
    engine = InferenceEngine(bundle, precision, "cpu", threads=1)
    pixels = _sample_pixels(folder, bundle.input_size, batch * batches) if folder else None
    if pixels is None or len(pixels) < batch * batches:
        pixels = np.random.default_rng(0).integers(
            0, 256, (batch * batches, *bundle.input_size, 3), dtype=np.uint8)
    chunks = np.split(pixels, batches)
    seconds = time_repeated(lambda: [engine.run(c) for c in chunks], repeats=5)["median_s"]
    return len(pixels) / seconds


def _sample_pixels(folder: Path, size: tuple[int, int], count: int) -> np.ndarray | None:
    files = scan_images(folder)
    picked = files[:: max(1, len(files) // count)][:count]
    decoded = []
    for f in picked:
        try:
            decoded.append(decode_image(folder / f.path, size))
        except DecodeError:
            continue  # the pipeline reports it as a failed item; the ceiling skips it
    return np.stack(decoded) if decoded else None


def _unstolen_ratio(images: int, wall: float, stolen: float | None, plain: dict,
                    cores: int) -> float | None:
    """The pipeline's rate over the script's, each per CPU second the machine was given."""
    ours = unstolen_rate(images, wall, stolen, cores)
    theirs = unstolen_rate(plain["images"], plain["seconds"], plain["stolen_seconds"], cores)
    return ours / theirs if ours and theirs else None


def _rounded(ratio: float | None) -> float | None:
    return None if ratio is None else round(ratio, 3)


def bench_pipeline(ctx: Context, folder: Path, bundle: ModelBundle, precision: str,
                   on_progress=lambda job: None, habit_images: int = 200,
                   rounds: int = 1) -> dict:
    """The pipeline and the plain script in turn, `rounds` times, in alternating order: this
    machine's speed drifts by a fifth within minutes, so each round's ratio compares two runs
    seconds apart and the median of the rounds is reported."""
    cores = os.cpu_count() or 1
    decode = bench_decode(folder, bundle.input_size, limit=2000, workers=1)[0]
    decode_per_core = decode["per_core_images_per_second"]
    engine_precision = precision
    if precision == "auto":  # what a worker on this machine resolves it to
        engine_precision = default_precision(bundle, choose_providers("auto"))
    model_per_core = model_ceiling(bundle, engine_precision, folder)
    serial_ceiling = cores / (1 / decode_per_core + 1 / model_per_core)

    warm = synthetic_folder(4 * 64)
    try:  # workers started, model loaded, a few batches run
        ctx.store.forget_job(submit_and_wait(ctx, warm, bundle, precision, timeout=600)[0].job_id)
    finally:
        shutil.rmtree(warm, ignore_errors=True)
    runs = []
    for n in range(rounds):
        # The script a careful user would write, on the same files and model file, while
        # the workers are idle; every other round it goes first, so a machine that slows
        # down or speeds up over a run favours neither side.
        plain = None
        if n % 2:
            plain = plain_script(folder, bundle.variant_path(engine_precision), bundle.input_size)
        stolen, started = stolen_seconds(), time.perf_counter()
        job, final = submit_and_wait(ctx, folder, bundle, precision, on_progress=on_progress,
                                     timeout=3600, timings=True)
        wall, stolen = time.perf_counter() - started, stolen_since(stolen)
        # Each round's job goes once read, so Redis holds the same for every round: kept, a
        # run's jobs grew it by hundreds of MB and set off rewrites of its append-only file.
        timings = ctx.store.stage_times(job.job_id)
        ctx.store.forget_job(job.job_id)
        if plain is None:
            plain = plain_script(folder, bundle.variant_path(engine_precision), bundle.input_size)
        runs.append({"job": job, "final": final, "wall": wall, "plain": plain, "stolen": stolen,
                     "timings": timings,
                     "ratio": final.total / wall / plain["images_per_second"],
                     "unstolen_ratio": _unstolen_ratio(final.total, wall, stolen, plain, cores)})
    middle = sorted(runs, key=lambda r: r["ratio"])[len(runs) // 2]
    unstolen = sorted(r["unstolen_ratio"] for r in runs if r["unstolen_ratio"] is not None)
    job, final, wall, plain = middle["job"], middle["final"], middle["wall"], middle["plain"]
    stages, batches = middle["timings"]
    # Last, so TensorFlow's threads are not there while the pipeline is timed.
    habit = bench_habit(folder, bundle.path / "training" / "model.keras", bundle.input_size,
                        habit_images, Serving.from_metadata(bundle.metadata)
                        ) if habit_images else None
    return {
        "images": final.total, "labelled": final.labelled, "failed": final.failed,
        "cores": cores, "wall_seconds": round(wall, 3),
        "images_per_second": round(final.total / wall, 1),
        "enqueue_seconds": round(job.enqueue_seconds, 4),
        "enqueue_images_per_second": round(final.total / job.enqueue_seconds, 1),
        "stage_seconds": {k: round(v, 3) for k, v in stages.items()},
        "batch_sizes": dict(sorted(batches.items())),
        "decode_per_core": decode_per_core, "model_per_core": round(model_per_core, 1),
        "serial_ceiling": round(serial_ceiling, 1),
        "fraction_of_ceiling": round(final.total / wall / serial_ceiling, 3),
        "job": job.job_id, "precision": engine_precision,
        "plain_script": plain,
        "times_plain_script": round(middle["ratio"], 3),
        "times_plain_script_unstolen": _rounded(unstolen[len(unstolen) // 2] if unstolen
                                                else None),
        "rounds": [{"images_per_second": round(r["final"].total / r["wall"], 1),
                    "plain_script_images_per_second": r["plain"]["images_per_second"],
                    "times_plain_script": round(r["ratio"], 3),
                    "stolen_seconds": r["stolen"],
                    "plain_script_stolen_seconds": r["plain"]["stolen_seconds"],
                    "times_plain_script_unstolen": _rounded(r["unstolen_ratio"])}
                   for r in runs],
        "habit": habit,
        "times_habit": round(final.total / wall / habit["images_per_second"], 1) if habit
        else None,
    }
