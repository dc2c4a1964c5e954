"""A bucket against a folder: the same images labelled from each in turn, by the same local
workers, compared per second of the workers' own CPU time (the store may share the machine, and
this machine's speed drifts by a fifth within minutes); and a large prefix listed and queued,
timed, with the submitting process's peak memory.

The bucket is any the environment's credentials reach (AWS_ENDPOINT_URL for an S3-compatible
store); the benchmark writes under the prefix it is given.
"""

from __future__ import annotations

import json
import os
import resource
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

from labeler.bench.million import peak_resident_kb
from labeler.buckets import BucketRoot, filesystem
from labeler.bundle import ModelBundle
from labeler.context import Context
from labeler.processes import group_members
from labeler.scan import scan_images
from labeler.store import JobProgress
from labeler.waiting import submit_and_wait

TICKS = os.sysconf("SC_CLK_TCK")


def bench_bucket(ctx: Context, folder: Path, prefix: BucketRoot, bundle: ModelBundle,
                 rounds: int = 3, listing: int = 0,
                 on_progress: Callable[[JobProgress], None] = lambda job: None) -> dict:
    images = _upload(folder, prefix)
    # Workers started, model loaded, the bucket's connections open.
    ctx.store.forget_job(submit_and_wait(ctx, images, bundle, timeout=3600)[0].job_id)
    runs = []
    for n in range(rounds):
        order = [("folder", folder), ("bucket", images)]
        for kind, source in order[::-1] if n % 2 else order:
            cpu, clock = worker_cpu_seconds(ctx), time.perf_counter()
            job, final = submit_and_wait(ctx, source, bundle, on_progress=on_progress,
                                         timeout=3600)
            wall, cpu = time.perf_counter() - clock, worker_cpu_seconds(ctx) - cpu
            ctx.store.forget_job(job.job_id)
            runs.append({"round": n, "source": kind, "images": final.total,
                         "failed": final.failed, "wall_seconds": round(wall, 2),
                         "images_per_second": round(final.total / wall, 1),
                         "worker_cpu_seconds": round(cpu, 2),
                         "images_per_cpu_second": round(final.total / max(cpu, 1e-9), 1)})
    result = {"images": runs[0]["images"], "rounds": runs,
              "bucket_over_folder_per_cpu_second": _median_ratio(runs, "images_per_cpu_second"),
              "bucket_over_folder_wall": _median_ratio(runs, "images_per_second")}
    if listing:
        result["listing"] = bench_listing(ctx, prefix, listing)
    return result


def _median_ratio(runs: list[dict], field: str) -> float:
    ratios = sorted(
        b[field] / f[field] for f, b in zip(
            [r for r in runs if r["source"] == "folder"],
            [r for r in runs if r["source"] == "bucket"], strict=True))
    return round(ratios[len(ratios) // 2], 3)


def worker_cpu_seconds(ctx: Context) -> float:
    """User and system CPU seconds of this machine's workers and their pool processes."""
    pids = [w["pid"] for w in ctx.fleet.workers() if w.get("host") == socket.gethostname()]
    total = 0
    for pid in {m for p in pids for m in (p, *group_members(p))}:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])  # utime, stime
    return total / TICKS


def _upload(folder: Path, prefix: BucketRoot) -> BucketRoot:
    """FOLDER's images under PREFIX/images, unless they are there already."""
    images = BucketRoot(prefix.protocol, f"{prefix.path}/images")
    fs = filesystem(prefix.protocol)
    wanted = {f.path for f in scan_images(folder)}
    if len(wanted) != len(fs.find(images.path)):
        fs.put([str(folder / p) for p in sorted(wanted)],
               [images.object_path(p) for p in sorted(wanted)])
    return images


def bench_listing(ctx: Context, prefix: BucketRoot, count: int) -> dict:
    """`labeler submit` of a prefix of `count` small objects (written first, if missing), with
    no worker: seconds to list and queue, and the submitting process's peak memory, beside
    the same for a tenth as many."""
    return {"keys": count, **_timed_submit(ctx, _small_objects(prefix, count)),
            "tenth": _timed_submit(ctx, _small_objects(prefix, count // 10))}


def _small_objects(prefix: BucketRoot, count: int) -> BucketRoot:
    root = BucketRoot(prefix.protocol, f"{prefix.path}/listing-{count}")
    fs = filesystem(prefix.protocol)
    if len(fs.find(root.path)) != count:
        tiny = bytes.fromhex("ffd8ffd9")  # the listing is timed, not the objects' contents
        for start in range(0, count, 5000):
            fs.pipe({root.object_path(f"{n // 1000:04d}/{n:07d}.jpg"): tiny
                     for n in range(start, min(start + 5000, count))})
    return root


def _timed_submit(ctx: Context, root: BucketRoot) -> dict:
    env = {**os.environ, "LABELER_HOME": str(ctx.settings.home)}
    if ctx.redis_url:
        env["LABELER_REDIS_URL"] = ctx.redis_url
    clock, children = time.perf_counter(), resource.getrusage(resource.RUSAGE_CHILDREN)
    process = subprocess.Popen(
        [sys.executable, "-P", "-m", "labeler.cli.main", "submit", root.url, "--no-spawn",
         "--json"], env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    peak = 0
    while process.poll() is None:
        peak = max(peak, peak_resident_kb(process.pid))
        time.sleep(0.02)
    seconds = time.perf_counter() - clock
    # The submitting process's own CPU time: what the listing costs here, apart from the
    # store's time to answer.
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - children.ru_utime) + (after.ru_stime - children.ru_stime)
    out = json.loads(process.stdout.read().strip().splitlines()[-1])
    _drop_job(ctx, out["job"], out["queue"])
    return {"seconds": round(seconds, 2), "listing_seconds": out["scan_seconds"],
            "keys_per_second": round(out["total"] / seconds),
            "submit_cpu_seconds": round(cpu, 2),
            "max_resident_mb": round(peak / 1024, 1)}


def _drop_job(ctx: Context, job_id: str, queue: str) -> None:
    """The benchmark's job and its queued chunks, which no worker is to label."""
    from labeler.broker import configure

    with configure(ctx.redis_url).connection_for_write() as conn:
        conn.default_channel.queue_purge(queue)
    ctx.store.forget_job(job_id)
