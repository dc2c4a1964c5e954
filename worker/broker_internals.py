"""The Celery and kombu internals the dead-worker hand-back relies on, and nothing else does:
which messages a worker holds, which messages Redis holds as delivered but unacknowledged, and
putting one of those back on its queue. Neither project documents them as an API, so
pyproject.toml bounds both below their next minor release, and `contract_problems` (run by a
unit test) names what an upgrade moved."""

from __future__ import annotations

import inspect


def held_delivery_tags() -> list[str] | None:
    """In a worker's main process: the delivery tags of the chunks it holds (reserved or
    running); None when they could not be read (the sets changed while being read, a few
    times in a row)."""
    from celery.worker import state

    for _ in range(5):
        try:
            requests = [*state.reserved_requests, *state.active_requests]
            return sorted({str(r.message.delivery_tag) for r in requests if r.message})
        except RuntimeError:  # a set changed size while being copied
            continue
    return None


def unacked_deliveries(channel) -> list[tuple[str, float]]:
    """(delivery tag, time delivered) of every unacknowledged message on the broker, from
    kombu's Redis transport's index of them."""
    delivered = channel.client.zrange(channel.unacked_index_key, 0, -1, withscores=True)
    return [(tag.decode() if isinstance(tag, bytes) else tag, at) for tag, at in delivered]


def restore_delivery(channel, tag: str) -> None:
    """Put an unacknowledged message back onto the end of its queue that is consumed next."""
    channel.qos.restore_by_tag(tag, client=channel.client)


def contract_problems() -> list[str]:
    """What of the above the installed Celery and kombu no longer offer, one line each."""
    from celery.worker import state
    from celery.worker.request import Request
    from kombu.transport import redis

    problems = []
    for name in ("reserved_requests", "active_requests"):
        if not hasattr(state, name):
            problems.append(f"celery.worker.state.{name} is gone")
    if "message" not in dir(Request):
        problems.append("celery.worker.request.Request has no .message")
    if not isinstance(getattr(redis.Channel, "unacked_index_key", None), str):
        problems.append("kombu.transport.redis.Channel.unacked_index_key is gone")
    restore = getattr(redis.QoS, "restore_by_tag", None)
    if restore is None or "client" not in inspect.signature(restore).parameters:
        problems.append("kombu.transport.redis.QoS.restore_by_tag(tag, client=...) is gone")
    return problems
