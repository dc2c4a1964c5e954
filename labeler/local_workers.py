"""Local workers for the embedded default: started by `labeler submit` when none is online for
the job's queue, detached from the terminal, and gone after a few idle minutes."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

from labeler.jobstore import JobStore
from labeler.settings import Settings


def default_concurrency() -> int:
    """One worker process per core, each with one ONNX Runtime thread: measured on 2 cores,
    2 processes x 1 thread labelled 1.7x faster than 1 process x 2 threads (decode and
    inference of different chunks overlap, and nothing is oversubscribed)."""
    return max(1, os.cpu_count() or 1)


def spawn_local_worker(
    settings: Settings, model: Path, precision: str, redis_url: str
) -> subprocess.Popen:
    logs = settings.home / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    log_file = logs / f"worker-{time.strftime('%Y%m%d-%H%M%S')}-{os.getpid()}.log"
    env = {**os.environ, "LABELER_REDIS_URL": redis_url}
    command = [
        sys.executable, "-m", "labeler.cli.main", "worker", "--model", str(model),
        "--precision", precision, "--idle-exit", str(settings.worker_idle_exit),
    ]
    with open(log_file, "ab") as out:
        return subprocess.Popen(
            command, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            env=env, start_new_session=True, close_fds=True,
        )


def ensure_local_worker(
    store: JobStore, settings: Settings, queue: str, model: Path, precision: str, redis_url: str
) -> bool:
    """Start a worker for `queue` unless one is online; True when one was started."""
    # A worker takes a few seconds to announce itself; don't start a second one meanwhile.
    if store.workers(queue) or not store.claim_spawn(queue, seconds=30):
        return False
    spawn_local_worker(settings, model, precision, redis_url)
    return True
