"""Handing back the chunks of workers that died, within seconds instead of a visibility timeout.

Celery's Redis transport keeps every delivered, unacknowledged message in its `unacked` hash
until the task acknowledges it; a chunk whose whole worker was killed, or whose task Celery
cancelled when Redis went away, sits there until the visibility timeout (minutes) has passed.
So each worker publishes, with every heartbeat, the delivery tags of the chunks it holds
(reserved or running), and every live worker, at start and on each heartbeat, puts back on its
queue any unacknowledged chunk that no live worker holds and that was delivered longer ago
than a heartbeat could take to announce it. Writes are keyed by image, so a chunk labelled
twice in a race overwrites itself; nothing is ever doubled.
"""

from __future__ import annotations

import logging
import time

from celery import Celery

from labeler.store import Fleet
from labeler.worker.broker_internals import restore_delivery, unacked_deliveries

log = logging.getLogger("labeler.worker")


def live_holders(fleet: Fleet) -> tuple[set[str], bool]:
    """The delivery tags live workers hold, and whether every live worker said which."""
    tags, complete = set(), True
    for worker in fleet.workers():
        if worker.get("holding") is None:
            complete = False
        tags.update(worker.get("holding") or ())
    return tags, complete


def hand_back_orphans(app: Celery, fleet: Fleet, grace: float) -> int:
    """Put back on their queues the unacknowledged chunks no live worker holds, delivered
    over `grace` seconds ago; how many."""
    held, complete = live_holders(fleet)
    if not complete:
        return 0  # a worker that has not said what it holds may hold any of them
    restored = 0
    # A pooled connection: a new one each heartbeat cost 4 ms and, over a fleet, a stream of
    # connects to Redis; its client reconnects by itself after an outage.
    with app.pool.acquire(block=True) as connection:
        channel = connection.default_channel
        for tag, at in unacked_deliveries(channel):
            if tag in held or time.time() - at < grace:
                continue
            # Onto the end the queue is consumed from: a handed-back chunk goes next.
            restore_delivery(channel, tag)
            restored += 1
    if restored:
        log.warning("handed back %d chunk(s) no live worker holds", restored)
    return restored
