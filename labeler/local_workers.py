"""Local workers for the embedded default: started by `labeler submit` when none is online for
the job's queue, detached from the terminal, and gone after a few idle minutes."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from labeler.processes import group_members, is_labeler_worker, wait_for_exit
from labeler.settings import Settings

if TYPE_CHECKING:
    from labeler.context import Context
    from labeler.store import Fleet


def default_concurrency() -> int:
    """One worker process per core, each with one ONNX Runtime thread: measured on 2 cores,
    2 processes x 1 thread labelled 1.7x faster than 1 process x 2 threads (decode and
    inference of different chunks overlap, and nothing is oversubscribed)."""
    return max(1, os.cpu_count() or 1)


@dataclass
class LocalWorker:
    process: subprocess.Popen
    log: Path

    def startup_failure(self) -> str | None:
        """Why the worker failed, when it exited with an error."""
        if self.process.poll() in (None, 0):
            return None
        lines = self.log.read_text(errors="replace").strip().splitlines()
        return f"the local worker failed: {lines[-1] if lines else 'no output'} (log: {self.log})"


# A worker labeler starts by itself shares the machine with whoever asked for it: the page,
# real-time labels (POST /api/label), the desktop. Under contention they go first; alone, a
# worker runs as fast as ever.
LOCAL_NICE = 10


def spawn_local_worker(
    settings: Settings, model: Path, *, precision: str, redis_url: str
) -> LocalWorker:
    logs = settings.home / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    log_file = logs / f"worker-{time.strftime('%Y%m%d-%H%M%S')}-{os.getpid()}.log"
    env = {**os.environ, "LABELER_REDIS_URL": redis_url}
    # -P: the worker imports the labeler this process runs, never a same-named folder in the
    # current directory.
    command = [
        sys.executable, "-P", "-m", "labeler.cli.main", "worker", "--model", str(model),
        "--precision", precision, "--idle-exit", str(settings.worker_idle_exit),
        "--nice", str(LOCAL_NICE),
    ]
    with open(log_file, "ab") as out:
        process = subprocess.Popen(
            command, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            env=env, start_new_session=True, close_fds=True,
        )
    return LocalWorker(process, log_file)


class WorkerSupply:
    """Makes sure a worker serves a job's queue: with the embedded Redis (and unless told
    not to), it starts a local one when none is online, at submission and again whenever the
    job stalls without one (local workers exit when idle; one may have crashed). The CLI, the
    web app and the benchmarks all go through here."""

    def __init__(self, ctx: Context, model: Path, *, enabled: bool = True) -> None:
        self.ctx, self.model = ctx, model
        self.enabled = enabled and ctx.embedded
        self.started: list[LocalWorker] = []
        self.replaced: set[int] = set()

    def ensure(self, queue: str, *, precision: str) -> LocalWorker | None:
        """Start a worker for `queue` unless one is online; the started worker, if any."""
        fleet = self.ctx.fleet
        # A worker takes a second or two to announce itself (it then releases the claim);
        # don't start a second one meanwhile.
        if not self.enabled or fleet.workers(queue) or not fleet.claim_spawn(queue, 30):
            return None
        worker = spawn_local_worker(self.ctx.settings, self.model, precision=precision,
                                    redis_url=self.ctx.redis_url)
        self.started.append(worker)
        return worker

    def replace_exited(self, queue: str, *, precision: str) -> LocalWorker | None:
        """A worker started here has exited (killed, stopped) while the job still runs: start
        another at once rather than when the job is seen to stall."""
        exited = [w for w in self.started
                  if w.process.poll() is not None and w.process.pid not in self.replaced]
        if not exited:
            return None
        self.replaced.update(w.process.pid for w in exited)
        return self.ensure(queue, precision=precision)

    def failure(self) -> str | None:
        """Why labelling cannot start: every worker started here exited with an error."""
        failures = [w.startup_failure() for w in self.started]
        return failures[-1] if failures and all(failures) else None


@dataclass
class StopReport:
    workers_stopped: list[int]
    workers_killed: list[int]
    redis_stopped: bool
    # Processes told to stop that had not exited when `stop_local` gave up waiting.
    still_running: list[int] = field(default_factory=list)


def stop_local(fleet: Fleet | None, settings: Settings, grace: float | None = None
               ) -> StopReport:
    """Stop what labeler started for this LABELER_HOME: the workers on its embedded Redis get
    Celery's warm shutdown (SIGTERM: the running chunk finishes, prefetched ones go back to
    the queue), then Redis shuts down, flushing its append-only file. A worker still running
    after `grace` seconds (default: the task time limit and ten more) is killed; its chunk
    comes back after the visibility timeout. Returns once every stopped process has exited,
    pool processes and Redis included, or says which have not."""
    from labeler.redis_server import embedded_redis_pid, stop_redis

    pids = [w["pid"] for w in (fleet.workers() if fleet else [])
            if w.get("host") == socket.gethostname() and is_labeler_worker(w.get("pid"))]
    # A worker's pool processes outlive its main process by a moment: wait for them too.
    family = sorted({member for pid in pids for member in (pid, *group_members(pid))})
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + (settings.task_time_limit + 10 if grace is None else grace)
    while time.monotonic() < deadline and any(is_labeler_worker(p) for p in pids):
        time.sleep(0.2)
    killed = [p for p in pids if is_labeler_worker(p)]
    for pid in killed:
        with contextlib.suppress(ProcessLookupError):
            # A spawned worker leads its own process group: its pool processes go with it.
            if os.getpgid(pid) == pid:
                os.killpg(pid, signal.SIGKILL)
            else:
                os.kill(pid, signal.SIGKILL)
    redis_pid = embedded_redis_pid(settings.home)
    redis_stopped = stop_redis(settings.home)
    waited = [*family, *([redis_pid] if redis_stopped and redis_pid else [])]
    return StopReport([p for p in pids if p not in killed], killed, redis_stopped,
                      wait_for_exit(waited, timeout=10))
