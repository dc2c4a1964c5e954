"""`labeler worker`."""

from __future__ import annotations

import logging
import os
from pathlib import Path

import click

from labeler.bundle import PRECISIONS
from labeler.context import Context
from labeler.engine import PROVIDER_CHOICES
from labeler.local_workers import default_concurrency


@click.command()
@click.option("--model", type=click.Path(path_type=Path), help="Model bundle folder.")
@click.option("--precision", type=click.Choice(("auto", *PRECISIONS)), default="auto",
              show_default=True, help="auto: int8 on CPU, fp16 on CUDA, when the bundle has it.")
@click.option("--provider", type=click.Choice(PROVIDER_CHOICES), default="auto",
              show_default=True, help="ONNX Runtime execution provider (auto: TensorRT, then "
              "CUDA, when a GPU is present; CPU otherwise).")
@click.option("--concurrency", type=click.IntRange(1, 256), default=default_concurrency,
              show_default="one per core",
              help="Worker processes, each with its own copy of the model (on a GPU box: one "
                   "per GPU).")
@click.option("--batch-size", type=click.IntRange(1, 4096), default=64, show_default=True,
              help="Images per inference call.")
@click.option("--threads", type=click.IntRange(0, 256), default=1, show_default=True,
              help="ONNX Runtime threads per process (0: ORT decides).")
@click.option("--decode-threads", type=click.IntRange(0, 64),
              show_default="0 on a CPU, 2 on a GPU",
              help="Decoding threads per process, overlapping inference (0: decode in the "
                   "process itself, best with a process per core).")
@click.option("--decode-timeout", type=click.FloatRange(0.1), default=20.0, show_default=True,
              help="Seconds one image may take to decode before it fails with 'timeout'.")
@click.option("--idle-exit", type=click.IntRange(0), default=0, show_default=True,
              help="Exit after this many idle seconds with an empty queue, or with Redis "
                   "unreachable that long (30 s at least) (0: never).")
@click.option("--metrics-port", type=click.IntRange(0, 65535), default=0, show_default=True,
              help="Serve this worker's Prometheus metrics on this port (0: off).")
@click.option("--metrics-host", default="127.0.0.1", show_default=True,
              help="Address the metrics port listens on (0.0.0.0: every interface).")
@click.option("--nice", type=click.IntRange(0, 19), default=0, show_default=True,
              help="Lower this worker's CPU priority, as nice(1) does (the workers labeler "
              "starts by itself use 10: the page and real-time labels on the same machine "
              "go first).")
def worker(model, precision, provider, concurrency, batch_size, threads, decode_threads,
           decode_timeout, idle_exit, metrics_port, metrics_host, nice) -> None:
    """Run a Celery worker that labels chunks with the model bundle."""
    from labeler.worker.options import WorkerOptions
    from labeler.worker.runner import run_worker

    logging.basicConfig(level=logging.INFO, format="[%(asctime)s: %(levelname)s] %(message)s")
    ctx = Context()
    options = WorkerOptions(
        model=str((model or ctx.settings.model).resolve()), precision=precision,
        provider=provider, batch_size=batch_size, threads=threads,
        decode_threads=decode_threads, decode_timeout=decode_timeout, redis_url=ctx.redis_url,
    )
    ctx.store  # noqa: B018  fail with one line now if Redis is unreachable
    if metrics_port:
        from labeler.worker.metrics import serve_metrics

        serve_metrics(metrics_host, metrics_port)
    if nice:
        os.nice(nice)  # before the pool starts: its processes inherit it
    run_worker(options, concurrency, idle_exit)
