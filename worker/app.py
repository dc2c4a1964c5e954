"""The Celery application and its settings (see ../shared/RELIABILITY.md for why each)."""

from __future__ import annotations

from celery import Celery

TASK_NAME = "labeler.label_chunk"
# A chunk (<= 256 images, <= 32 MiB) takes about a second on a CPU; the time limit only stops
# a stuck decode. The visibility timeout is how long a chunk held by a worker that died waits
# before another worker gets it, so it is short, and longer than the time limit so a running
# chunk is never delivered twice (celery#5935).
TASK_TIME_LIMIT = 90
VISIBILITY_TIMEOUT = 120

app = Celery("labeler", set_as_current=False)


def kombu_url(url: str) -> str:
    """redis-py spells a unix socket `unix://path`; kombu spells it `redis+socket://path`."""
    return "redis+socket://" + url[len("unix://"):] if url.startswith("unix://") else url


def configure(url: str) -> Celery:
    transport = {"visibility_timeout": VISIBILITY_TIMEOUT}
    app.conf.update(
        broker_url=kombu_url(url),
        # Set in every place Celery reads it: the shortest one wins (celery#7651).
        broker_transport_options=transport,
        result_backend_transport_options=transport,
        visibility_timeout=VISIBILITY_TIMEOUT,
        broker_connection_retry_on_startup=True,
        broker_connection_max_retries=None,
        task_serializer="json",
        accept_content=["json"],
        result_accept_content=["json"],
        task_ignore_result=True,
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        task_time_limit=TASK_TIME_LIMIT,
        task_soft_time_limit=TASK_TIME_LIMIT - 15,
        worker_prefetch_multiplier=1,
        worker_proc_alive_timeout=60,
        worker_cancel_long_running_tasks_on_connection_loss=True,
        worker_hijack_root_logger=False,
        worker_send_task_events=False,
        task_create_missing_queues=True,
    )
    if url.startswith("rediss://"):
        app.conf.broker_use_ssl = {"ssl_cert_reqs": "required"}
    return app


def queue_name(bundle_name: str, precision: str) -> str:
    """Jobs for one model and precision go to one queue; only matching workers consume it."""
    return f"labeler.{bundle_name}.{precision}"
