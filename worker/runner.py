"""Starting a worker: options into the environment (inherited by pool processes), a heartbeat
thread in the parent, and an idle exit for workers that `labeler submit` spawned itself."""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import socket
import threading
import time
import uuid

import redis
from celery import Celery
from celery.signals import worker_ready, worker_shutdown

from labeler.broker import configure
from labeler.bundle import load_bundle
from labeler.engine import choose_providers, default_precision
from labeler.errors import ServiceError
from labeler.protocol import queue_name
from labeler.redis_server import connect
from labeler.settings import get_settings
from labeler.store import Fleet
from labeler.worker.broker_internals import held_delivery_tags
from labeler.worker.handback import hand_back_orphans
from labeler.worker.options import WorkerOptions

log = logging.getLogger("labeler.worker")
HEARTBEAT_SECONDS = 3
# A chunk delivered this long ago that no live worker holds was held by a dead one. Longer
# than a heartbeat takes to announce a new chunk, with room for a slow beat.
ORPHAN_GRACE_SECONDS = 3 * HEARTBEAT_SECONDS + 1
# Longer than an embedded Redis takes to restart from its append-only file.
REDIS_GONE_MIN_SECONDS = 30


def worker_queues(options: WorkerOptions) -> list[str]:
    """An `auto` worker serves jobs that asked for `auto` and for the precision it resolved."""
    bundle = load_bundle(options.model)
    queues = [queue_name(bundle.name, options.precision)]
    if options.precision == "auto":
        resolved = default_precision(bundle, choose_providers(options.provider))
        queues.append(queue_name(bundle.name, resolved))
    return queues


def run_worker(options: WorkerOptions, concurrency: int, idle_exit: int = 0) -> None:
    import labeler.worker.tasks  # noqa: F401  the labelling task joins the app here

    load_bundle(options.model).verified_bytes(_resolved_precision(options))  # fail fast
    options.to_env()
    queues = worker_queues(options)
    name = f"labeler-{uuid.uuid4().hex[:8]}@{socket.gethostname()}"
    app = configure(options.redis_url)
    info = {"name": name, "queue": queues[0], "queues": queues, "model": options.model,
            "precision": options.precision, "pid": os.getpid(), "host": socket.gethostname(),
            "concurrency": concurrency, "started": time.time()}
    _install_heartbeat(app, options, name, info, idle_exit)
    # Gossip and mingle only slow a start; heartbeats are what Flower lists workers by.
    heartbeat = ["--without-heartbeat"] if get_settings().task_events == "off" else []
    app.worker_main([
        "worker", "--hostname", name, "--queues", ",".join(queues),
        "--concurrency", str(concurrency), "--pool", "prefork", "--loglevel", "INFO",
        "--without-gossip", "--without-mingle", *heartbeat,
    ])


def _resolved_precision(options: WorkerOptions) -> str:
    if options.precision != "auto":
        return options.precision
    return default_precision(load_bundle(options.model), choose_providers(options.provider))


def _install_heartbeat(app: Celery, options: WorkerOptions, name: str, info: dict,
                       idle_exit: int) -> None:
    """Every few seconds: say this worker is alive and which chunks it holds, hand back the
    chunks of dead workers, and leave when idle (spawned workers) or when Redis is gone."""
    stop = threading.Event()

    def beat() -> None:
        fleet, unreachable_since, first = None, None, True
        while not stop.is_set():
            try:
                fleet = fleet or Fleet(connect(options.redis_url))
                fleet.heartbeat(name, {**info, "holding": held_delivery_tags()},
                                ttl=3 * HEARTBEAT_SECONDS)
                if first:
                    fleet.release_spawn(info["queues"])
                    first = False
                fleet.prune_dead()
                hand_back_orphans(app, fleet, ORPHAN_GRACE_SECONDS)
                unreachable_since = None
                if idle_exit and _idle_for(fleet, name, info) > idle_exit:
                    _leave(f"idle for {idle_exit} s with an empty queue")
                    return
            except (ServiceError, redis.ConnectionError) as exc:
                log.warning("heartbeat failed: %s", exc)
                unreachable_since = unreachable_since or time.monotonic()
                # An embedded Redis that stays gone was stopped, and its local workers with
                # it; they must not wait for it forever. Fleet workers (no idle exit) do.
                gone = time.monotonic() - unreachable_since
                if idle_exit and gone > max(idle_exit, REDIS_GONE_MIN_SECONDS):
                    _leave(f"Redis unreachable for {gone:.0f} s")
                    return
            except Exception as exc:  # keep beating through whatever else goes wrong
                log.warning("heartbeat failed: %s", exc)
            stop.wait(HEARTBEAT_SECONDS)

    @worker_ready.connect(weak=False)
    def _start(**_kwargs) -> None:
        threading.Thread(target=beat, name="labeler-heartbeat", daemon=True).start()

    @worker_shutdown.connect(weak=False)
    def _stop(**_kwargs) -> None:
        stop.set()
        # Redis may be the thing that went away; the heartbeat key then expires by itself.
        with contextlib.suppress(Exception):
            Fleet(connect(options.redis_url)).forget_worker(name)


def _leave(reason: str) -> None:
    log.info("%s: shutting down", reason)
    os.kill(os.getpid(), signal.SIGTERM)  # Celery's warm shutdown


def _idle_for(fleet: Fleet, name: str, info: dict) -> float:
    if any(fleet.queue_depth(q) for q in info["queues"]):
        return 0.0
    last = fleet.worker_activity(name) or info["started"]
    return time.time() - last
