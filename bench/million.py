"""A job of a million images (hard links of a folder, labelled by local workers on a Redis of
its own), then what a user of such a job waits for: a page of the web page's grid in every
sort and filter (with reviews present), `labeler results -o`, `labeler duplicates -o`,
`submit --resume`, and the Redis memory it all takes."""

from __future__ import annotations

import os
import random
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

from labeler.bench.soak import linked_copies
from labeler.bundle import ModelBundle
from labeler.context import Context
from labeler.local_workers import stop_local
from labeler.redis_server import ensure_redis
from labeler.settings import Settings
from labeler.store import JobProgress
from labeler.waiting import submit_and_wait


def bench_million(settings: Settings, folder: Path, bundle: ModelBundle, copies: int,
                  requests: int = 20, on_progress: Callable[[JobProgress], None] = lambda j: None
                  ) -> dict:
    home = Path(tempfile.mkdtemp(prefix="labeler-million-"))
    ctx = Context(replace(settings, home=home, redis_url=None, worker_idle_exit=0))
    try:
        url = ensure_redis(home, "8gb")
        tree = linked_copies(folder, copies, home / "images")
        before = ctx.store.redis.info("memory")["used_memory"]
        started = time.monotonic()
        job, final = submit_and_wait(ctx, tree, bundle, on_progress=on_progress)
        labelling = time.monotonic() - started
        used = ctx.store.redis.info("memory")["used_memory"] - before
        env = {**os.environ, "LABELER_REDIS_URL": url, "LABELER_HOME": str(home)}
        return {
            "images": final.total, "labelled": final.labelled, "failed": final.failed,
            "labelling_seconds": round(labelling, 1),
            "images_per_second": round(final.total / labelling, 1),
            "redis_bytes_per_image": round(used / final.total, 1),
            "reviews": _review(ctx.store, job.job_id, bundle.classes, final.total),
            "pages": _time_pages(env, job.job_id, bundle.classes, final.done, requests),
            "results": _time_results(env, job.job_id, home / "results.csv"),
            "results_parquet": _time_results(env, job.job_id, home / "results.parquet"),
            "duplicates": _time_duplicates(env, job.job_id, home / "duplicates.csv"),
            "signature_redis_bytes_per_image": round(
                ctx.store.signature_memory(job.job_id) / final.total, 2),
            "resume_seconds": _time_resume(env, tree, job.job_id),
        }
    finally:
        stop_local(ctx.fleet, ctx.settings, grace=10)
        shutil.rmtree(home, ignore_errors=True)


def _labeler(*args: str) -> list[str]:
    return [sys.executable, "-P", "-m", "labeler.cli.main", *args]


def _review(store, job_id: str, classes: tuple[str, ...], total: int) -> dict:
    """What reviewers leave in a job: 1,000 corrections by hand, then every label at 0.95 or
    above accepted in one action; the pages are timed with them present."""
    rng = random.Random(1)
    corrections = {i: classes[rng.randrange(len(classes))]
                   for i in rng.sample(range(total), min(1000, total))}
    clock = time.perf_counter()
    for start in range(0, len(corrections), 50):  # as the page sends them, a few at a time
        store.review_items(job_id, dict(list(corrections.items())[start:start + 50]), "bench")
    corrected = time.perf_counter() - clock
    clock = time.perf_counter()
    accepted = store.accept_above(job_id, 0.95, "bench")
    return {"corrected": len(corrections), "correct_seconds": round(corrected, 2),
            "accepted": accepted, "accept_seconds": round(time.perf_counter() - clock, 1)}


def _time_pages(env: dict, job_id: str, classes: tuple[str, ...], done: int,
                requests: int) -> dict:
    """p50/p95 milliseconds of a page of 50 for each sort and filter the page offers, at
    random offsets, through a real `labeler serve`."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = subprocess.Popen(_labeler("serve", "--port", str(port)), env=env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}/api/jobs/{job_id}/items?limit=50"
    rng = random.Random(0)
    try:
        wait_up(f"http://127.0.0.1:{port}/api/health")
        queries = {"path": "", "confidence": "&sort=confidence",
                   "-confidence": "&sort=-confidence",
                   "label by path": f"&label={classes[0]}",
                   "label by confidence": f"&label={classes[0]}&sort=confidence",
                   "below 0.6 by confidence": "&below=0.6&sort=confidence",
                   "failed": "&label=failed",
                   "not reviewed by path": "&unreviewed=true",
                   "not reviewed by confidence": "&unreviewed=true&sort=-confidence",
                   "label, not reviewed": f"&label={classes[0]}&unreviewed=true"
                                          "&sort=confidence"}
        timings = {}
        for name, query in queries.items():
            seconds = []
            for _ in range(requests):
                offset = rng.randrange(0, max(1, done // 10))
                clock = time.perf_counter()
                with urllib.request.urlopen(f"{base}{query}&offset={offset}", timeout=60) as r:
                    r.read()
                seconds.append(time.perf_counter() - clock)
            seconds.sort()
            timings[name] = {"p50_ms": round(statistics.median(seconds) * 1000, 1),
                             "p95_ms": round(seconds[int(0.95 * (len(seconds) - 1))] * 1000, 1)}
        return timings
    finally:
        server.terminate()
        server.wait()


def wait_up(url: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            urllib.request.urlopen(url, timeout=5).read()
            return
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)


def _time_results(env: dict, job_id: str, out: Path) -> dict:
    return _timed_rows(env, ["results", job_id, "-o", str(out)], out)


def _time_duplicates(env: dict, job_id: str, out: Path) -> dict:
    """`labeler duplicates`: the job's copies of one image are one group each."""
    return _timed_rows(env, ["duplicates", job_id, "-o", str(out)], out)


def _timed_rows(env: dict, args: list[str], out: Path) -> dict:
    """A labeler command writing rows to `out` (text, or Parquet): its time, rows and peak
    memory."""
    clock = time.perf_counter()
    process = subprocess.Popen(_labeler(*args), env=env, stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL)
    peak = 0
    while process.poll() is None:
        peak = max(peak, peak_resident_kb(process.pid))
        time.sleep(0.05)
    seconds = time.perf_counter() - clock
    rows = _rows_in(out) if out.exists() else 0
    return {"rows": rows, "seconds": round(seconds, 2),
            "rows_per_second": round(rows / max(seconds, 1e-9)),
            "max_resident_mb": round(peak / 1024, 1), "exit": process.returncode}


def _rows_in(out: Path) -> int:
    if out.suffix == ".parquet":
        import pyarrow.parquet as pq

        return pq.ParquetFile(out).metadata.num_rows
    return sum(1 for _ in out.open()) - 1


def peak_resident_kb(pid: int) -> int:
    """The process's own peak resident memory (VmHWM): unlike a child's rusage, it does not
    count the parent's pages the child had between fork and exec."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def _time_resume(env: dict, tree: Path, job_id: str) -> float:
    clock = time.perf_counter()
    subprocess.run(_labeler("submit", str(tree), "--resume", job_id, "--no-spawn", "--json"),
                   env=env, check=True, capture_output=True)
    return round(time.perf_counter() - clock, 2)
