"""A worker's own Prometheus metrics (`labeler worker --metrics-port`): what its pool
processes labelled and how long each stage of a chunk took.

Pool processes are forked, so the metrics use prometheus-client's multiprocess mode: each
process writes its values to files in one folder, and the main process serves their sum. The
folder must be named before prometheus-client is first imported, so it is imported here
lazily, never at module import.
"""

from __future__ import annotations

import functools
import os
import tempfile
from types import SimpleNamespace

from labeler.errors import LabelerError
from labeler.store.chunk_writes import outcome_counts
from labeler.worker.labelling import ChunkOutcome

# Seconds per chunk stage: a 512-image chunk takes ~0.3-2 s on a CPU, far less on a GPU.
STAGE_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 90)
MULTIPROCESS_DIR = "PROMETHEUS_MULTIPROC_DIR"


def serve_metrics(host: str, port: int) -> None:
    """In the worker's main process, before the pool forks: serve the pool's metrics."""
    os.environ[MULTIPROCESS_DIR] = tempfile.mkdtemp(prefix="labeler-metrics-")
    from prometheus_client import CollectorRegistry, start_http_server
    from prometheus_client.multiprocess import MultiProcessCollector

    registry = CollectorRegistry()
    MultiProcessCollector(registry)
    try:
        start_http_server(port, addr=host, registry=registry)
    except OSError as exc:
        raise LabelerError(f"cannot serve metrics on {host}:{port} ({exc.strerror}): "
                           "choose another --metrics-port") from None


@functools.cache
def chunk_metrics() -> SimpleNamespace:
    from prometheus_client import Counter, Histogram

    return SimpleNamespace(
        labelled=Counter("labeler_worker_images_labelled", "Images labelled by this worker",
                         ["model"]),
        failed=Counter("labeler_worker_images_failed", "Images this worker failed, by reason",
                       ["reason"]),
        chunks=Counter("labeler_worker_chunks", "Chunks ended by this worker, by outcome",
                       ["outcome"]),
        stage=Histogram("labeler_worker_chunk_stage_seconds",
                        "Seconds a chunk spent decoding, in inference and writing results",
                        ["stage"], buckets=STAGE_BUCKETS),
    )


def observe_chunk(outcome: ChunkOutcome, write_seconds: float) -> None:
    metrics = chunk_metrics()
    for field, n in outcome_counts(outcome.results, outcome.errors).items():
        kind, value = field.split(":", 1)
        (metrics.labelled if kind == "labelled" else metrics.failed).labels(value).inc(n)
    metrics.chunks.labels("done").inc()
    metrics.stage.labels("decode").observe(outcome.total_seconds - outcome.infer_seconds)
    metrics.stage.labels("inference").observe(outcome.infer_seconds)
    metrics.stage.labels("write").observe(write_seconds)
