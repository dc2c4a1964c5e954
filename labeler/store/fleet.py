"""The fleet registry: which workers are online and for which queues, when each last worked,
which caller may start a local worker, how deep a queue is, and what every worker has
counted. Reads never write: a dead worker's record leaves by an explicit `prune_dead`."""

from __future__ import annotations

import json
import socket
import time

import redis

from labeler.processes import is_labeler_worker
from labeler.store.keys import COUNTERS, activity_key, spawn_key, worker_key


def mark_active(pipe, name: str) -> None:
    """Queue on `pipe`: worker `name` starts or ends a chunk now (read by its idle check)."""
    pipe.set(activity_key(name), time.time(), ex=86400)


class Fleet:
    def __init__(self, client: redis.Redis) -> None:
        self.redis = client

    def heartbeat(self, name: str, info: dict, ttl: int) -> None:
        self.redis.set(worker_key(name), json.dumps(info), ex=ttl)

    def forget_worker(self, name: str) -> None:
        self.redis.delete(worker_key(name), activity_key(name))

    def worker_activity(self, name: str) -> float | None:
        value = self.redis.get(activity_key(name))
        return float(value) if value else None

    def workers(self, queue: str | None = None) -> list[dict]:
        """Workers online for `queue` (all queues: None). A killed worker's heartbeat outlives
        it by up to its time to live; one on this host whose process is gone is left out."""
        return [w for w in self._announced(queue) if not _dead_here(w)]

    def prune_dead(self) -> list[str]:
        """Forget the workers on this host whose process is gone; their names."""
        dead = [w["name"] for w in self._announced(None) if _dead_here(w)]
        for name in dead:
            self.forget_worker(name)
        return dead

    def _announced(self, queue: str | None) -> list[dict]:
        keys = list(self.redis.scan_iter(match=worker_key("*"), count=1000))
        infos = [json.loads(v) for v in self.redis.mget(keys) if v] if keys else []
        return [w for w in infos if queue is None or queue in w.get("queues", [])]

    def claim_spawn(self, queue: str, seconds: int) -> bool:
        """True for the one caller allowed to start a local worker for `queue` right now."""
        return bool(self.redis.set(spawn_key(queue), time.time(), ex=seconds, nx=True))

    def release_spawn(self, queues: list[str]) -> None:
        """A worker is online for these queues: a later stall may start another at once."""
        self.redis.delete(*map(spawn_key, queues))

    def queue_depth(self, queue: str) -> int:
        # Celery's Redis transport keeps a queue as a list named after it.
        return int(self.redis.llen(queue))

    def counters(self) -> dict[str, int]:
        """Everything workers have written since Redis started: images labelled by model,
        failed by reason, chunks retried and given up."""
        return {k.decode(): int(v) for k, v in self.redis.hgetall(COUNTERS).items()}


def _dead_here(worker: dict) -> bool:
    return worker.get("host") == socket.gethostname() and not is_labeler_worker(
        worker.get("pid"))
