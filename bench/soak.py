"""A soak: one large job on local workers and the embedded Redis while faults land every few
seconds, in turn a pool process killed, a whole worker killed, Redis killed and a worker
stopped with SIGTERM; then the ledger: every submitted file exactly once in the results.

It runs in a LABELER_HOME of its own, so it never touches the user's jobs or Redis.
"""

from __future__ import annotations

import os
import random
import shutil
import signal
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

from labeler.bundle import ModelBundle
from labeler.context import Context
from labeler.local_workers import stop_local
from labeler.redis_server import ensure_redis
from labeler.scan import scan_images
from labeler.settings import Settings
from labeler.store import JobProgress
from labeler.submit import start_job
from labeler.waiting import follow_job

FAULTS = ("pool", "worker", "redis", "term")


def linked_copies(source: Path, copies: int, into: Path) -> Path:
    """`copies` hard-linked copies of the images under `source` (cheap: no bytes copied)."""
    files = scan_images(source)
    for i in range(copies):
        for f in files:
            target = into / f"copy{i:03d}" / f.path
            target.parent.mkdir(parents=True, exist_ok=True)
            os.link(source / f.path, target)
    return into


@dataclass(frozen=True)
class FaultPlan:
    every: float = 5.0  # seconds between faults
    kinds: tuple[str, ...] = FAULTS  # taking turns
    after: int = 0  # the first fault once this many images are done
    most: int | None = None  # faults at most (None: until the job is done)


def soak(settings: Settings, folder: Path, bundle: ModelBundle, copies: int, plan: FaultPlan,
         precision: str = "auto",
         on_progress: Callable[[JobProgress], None] = lambda job: None) -> dict:
    home = Path(tempfile.mkdtemp(prefix="labeler-soak-"))
    ctx = Context(replace(settings, home=home, redis_url=None, worker_idle_exit=0))
    try:
        ensure_redis(home, settings.redis_maxmemory)
        tree = linked_copies(folder, copies, home / "images")
        submitted = {f.path for f in scan_images(tree)}
        return _run(ctx, tree, bundle, precision, submitted, plan, on_progress)
    finally:
        stop_local(ctx.fleet, ctx.settings, grace=10)
        shutil.rmtree(home, ignore_errors=True)


def _run(ctx, tree, bundle, precision, submitted, plan: FaultPlan, on_progress) -> dict:
    started = start_job(ctx, tree, bundle, precision)
    job_id = started.submission.job_id
    injected: Counter = Counter()
    now = time.monotonic()
    clock = {"fault": now - plan.every, "last_fault": None, "change": now, "done": -1,
             "stall": 0.0}

    def due(job: JobProgress, now: float) -> bool:
        count = sum(injected.values())
        return (job.done >= plan.after and job.done < job.total
                and now - clock["fault"] >= plan.every
                and (plan.most is None or count < plan.most))

    def progress(job: JobProgress) -> None:
        now = time.monotonic()
        if job.done != clock["done"]:
            clock["stall"] = max(clock["stall"], now - clock["change"])
            clock["done"], clock["change"] = job.done, now
        if due(job, now):
            kind = plan.kinds[sum(injected.values()) % len(plan.kinds)]
            if _inject(ctx, kind):
                injected[kind] += 1
                clock["last_fault"] = now
            clock["fault"] = now
        on_progress(job)

    begun = time.monotonic()
    final = follow_job(ctx, job_id, started.supply, on_progress=progress)
    ended = time.monotonic()
    wall = ended - begun
    last_fault = clock["last_fault"]
    seen = [item.path for item in ctx.store.iter_items(job_id)]
    labelled_writes = sum(v for k, v in ctx.fleet.counters().items()
                          if k.startswith("labelled:"))
    return {
        "images": len(submitted), "labelled": final.labelled, "failed": final.failed,
        "lost": len(submitted - set(seen)), "unexpected": len(set(seen) - submitted),
        "duplicated": len(seen) - len(set(seen)),
        "relabelled": labelled_writes - final.labelled,
        "faults": dict(injected), "fault_every_seconds": plan.every,
        "last_fault_to_done_seconds": None if last_fault is None else round(ended - last_fault,
                                                                            1),
        "longest_stall_seconds": round(clock["stall"], 1), "wall_seconds": round(wall, 1),
        "images_per_second": round(len(submitted) / wall, 1),
    }


def _inject(ctx: Context, kind: str) -> bool:
    """One fault of `kind`; False when there was nothing to hit (no worker online yet)."""
    if kind == "redis":
        pid = int((ctx.settings.home / "redis" / "redis.pid").read_text())
        os.kill(pid, signal.SIGKILL)
        return True
    try:
        workers = ctx.fleet.workers()
    except Exception:  # Redis itself may be down from the previous fault
        return False
    if not workers:
        return False
    pid = random.choice(workers)["pid"]
    if kind == "pool":
        children = _children(pid)
        if not children:
            return False
        os.kill(random.choice(children), signal.SIGKILL)
    elif kind == "worker":
        os.killpg(pid, signal.SIGKILL)  # a spawned worker leads its process group
    else:
        os.kill(pid, signal.SIGTERM)
    return True


def _children(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                found.append(int(entry.name))
    return found
