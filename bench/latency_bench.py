"""`POST /api/label` under load: a real `labeler serve` on loopback (a home and Redis of its
own), driven by asyncio clients on keep-alive connections, 1, 8 and 32 at once, each for a
few seconds, with a 32x32 JPEG and with a 2-megapixel photo. Latency percentiles, images/s and
errors, against the batch path's images/s on the same machine; then the one-client latency
again while a batch job runs alongside."""

from __future__ import annotations

import asyncio
import io
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

from PIL import Image

from labeler.bench.million import wait_up
from labeler.bundle import ModelBundle
from labeler.context import Context
from labeler.local_workers import stop_local
from labeler.redis_server import ensure_redis
from labeler.scan import scan_images
from labeler.settings import Settings
from labeler.submit import submit_folder
from labeler.waiting import submit_and_wait, wait_for_job


def payloads(folder: Path) -> dict[str, bytes]:
    """The first image of `folder` as it is, and as a 2-megapixel JPEG."""
    first = folder / scan_images(folder)[0].path
    photo = Image.open(first).convert("RGB").resize((1632, 1224), Image.Resampling.BICUBIC)
    out = io.BytesIO()
    photo.save(out, "JPEG", quality=90)
    return {"small": first.read_bytes(), "2MP": out.getvalue()}


async def _client(port: int, body: bytes, until: float, latencies: list, statuses: list) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    head = (f"POST /api/label HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nX-Labeler: 1\r\n"
            f"Content-Type: image/jpeg\r\nContent-Length: {len(body)}\r\n\r\n").encode()
    try:
        while time.perf_counter() < until:
            clock = time.perf_counter()
            writer.write(head + body)
            await writer.drain()
            status_line = await reader.readline()
            length = 0
            while (line := await reader.readline()) not in (b"\r\n", b""):
                if line.lower().startswith(b"content-length:"):
                    length = int(line.split(b":")[1])
            await reader.readexactly(length)
            latencies.append(time.perf_counter() - clock)
            statuses.append(int(status_line.split()[1]))
            if statuses[-1] == 429:
                await asyncio.sleep(0.05)
    finally:
        writer.close()


def _run_fast(coroutine) -> None:
    """On uvloop where it is installed (as uvicorn uses it): the clients share the machine
    with the server, and asyncio's own loop would cost them twice the CPU."""
    try:
        import uvloop
    except ImportError:
        asyncio.run(coroutine)
        return
    uvloop.run(coroutine)


def drive(port: int, body: bytes, clients: int, seconds: float) -> dict:
    latencies: list[float] = []
    statuses: list[int] = []
    until = time.perf_counter() + seconds

    async def run() -> None:
        await asyncio.gather(*(_client(port, body, until, latencies, statuses)
                               for _ in range(clients)))

    started = time.perf_counter()
    _run_fast(run())
    took = time.perf_counter() - started
    good = sorted(t for t, s in zip(latencies, statuses, strict=True) if s == 200)

    def percentile(q: float) -> float | None:
        return round(good[min(len(good) - 1, int(q * len(good)))] * 1000, 1) if good else None

    return {"clients": clients, "requests": len(statuses), "p50_ms": percentile(0.5),
            "p95_ms": percentile(0.95), "p99_ms": percentile(0.99),
            "images_per_second": round(len(good) / took, 1),
            "busy_429": statuses.count(429),
            "errors": sum(1 for s in statuses if s not in (200, 429))}


def bench_latency(settings: Settings, folder: Path, bundle: ModelBundle, *, seconds: float,
                  clients: tuple[int, ...], batch_images: int,
                  waits: tuple[float, ...] = (0.0,), processes: int = 1) -> dict:
    """The real-time table for each batching wait (`serve --label-wait-ms`), a server each,
    then the batch path and the one-client latency alongside a batch job (last wait)."""
    home = Path(tempfile.mkdtemp(prefix="labeler-latency-"))
    ctx = Context(replace(settings, home=home, redis_url=None, worker_idle_exit=0))
    url = ensure_redis(home, "1gb")
    env = {**os.environ, "LABELER_REDIS_URL": url, "LABELER_HOME": str(home),
           "LABELER_MODEL": str(bundle.path)}
    bodies, table, servers = payloads(folder), [], []
    try:
        for wait in waits:
            port, server = _serve(env, wait, processes)
            servers.append(server)
            # Each server process loads its model on its first request.
            drive(port, bodies["small"], 4 * processes, 1.0)
            table += [{"wait_ms": wait, "image": name, **drive(port, body, n, seconds)}
                      for name, body in bodies.items() for n in clients]
            if len(servers) < len(waits):
                _stop(server)
        batch = _batch_rate(ctx, folder, bundle, batch_images, home)
        alongside = _alongside(ctx, port, bodies["small"], folder, bundle, seconds)
        return {"processes": processes, "realtime": table, "batch_images_per_second": batch,
                "alongside": {"wait_ms": waits[-1], **alongside},
                "idle_one_client_p99_ms": next(r["p99_ms"] for r in table if r["wait_ms"] ==
                                               waits[-1] and r["clients"] == 1)}
    finally:
        for server in servers:
            _stop(server)
        stop_local(ctx.fleet, ctx.settings, grace=10)
        shutil.rmtree(home, ignore_errors=True)


def _serve(env: dict, wait_ms: float, processes: int) -> tuple[int, subprocess.Popen]:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = subprocess.Popen([sys.executable, "-P", "-m", "labeler.cli.main", "serve",
                               "--port", str(port), "--no-spawn",
                               "--label-wait-ms", str(wait_ms),
                               "--processes", str(processes)], env=env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wait_up(f"http://127.0.0.1:{port}/api/health")
    return port, server


def _stop(server: subprocess.Popen) -> None:
    if server.poll() is None:
        server.terminate()
        server.wait()


def _batch_rate(ctx: Context, folder: Path, bundle: ModelBundle, images: int, home: Path
                ) -> float:
    """images/s of a job of `images` of the folder's images, local workers started for it."""
    subset = home / "batch"
    for f in scan_images(folder)[:images]:
        (subset / f.path).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(folder / f.path, subset / f.path)
    submit_and_wait(ctx, subset, bundle)  # starts the workers and warms them up
    clock = time.perf_counter()
    _, final = submit_and_wait(ctx, subset, bundle)
    return round(final.total / (time.perf_counter() - clock), 1)


def _alongside(ctx: Context, port: int, body: bytes, folder: Path, bundle: ModelBundle,
               seconds: float) -> dict:
    """One client's latency while a batch job of the folder runs; both must finish."""
    job = submit_folder(ctx.store, ctx.redis_url, ctx.settings, folder, bundle, "auto")
    measured = drive(port, body, 1, seconds)
    final = wait_for_job(ctx.store, job.job_id, timeout=1800)
    return {**measured, "batch_job_images": final.total, "batch_job_labelled": final.labelled,
            "batch_job_images_per_second": round(final.rate, 1)}

