"""The Celery application both ends share, the producer (`labeler submit`) and the workers,
with the settings that make a chunk survive a crash: late acknowledgement, a rejected chunk
back on the queue when its process dies, two chunks held per pool process (one running, one
next), and the same visibility timeout everywhere Celery reads one."""

from __future__ import annotations

from celery import Celery

from labeler.redis_server import kombu_url
from labeler.settings import get_settings

app = Celery("labeler", set_as_current=False)


def configure(url: str) -> Celery:
    settings = get_settings()
    # Settings.from_env has already refused a time limit that reaches the visibility timeout.
    time_limit, visibility = settings.task_time_limit, settings.visibility_timeout
    transport = {"visibility_timeout": visibility}
    app.conf.update(
        broker_url=kombu_url(url),
        # Set in every place Celery reads it: the shortest one wins (celery#7651).
        broker_transport_options=transport,
        result_backend_transport_options=transport,
        visibility_timeout=visibility,
        broker_connection_retry_on_startup=True,
        broker_connection_max_retries=None,
        task_serializer="json",
        accept_content=["json"],
        result_accept_content=["json"],
        task_ignore_result=True,
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        task_time_limit=time_limit,
        task_soft_time_limit=max(1, time_limit - 5),
        # Each pool process has its next chunk waiting in the worker, so it starts it the
        # moment the last one is written instead of after a fetch from Redis (measured on 2
        # cores: 0.87x -> 0.96x the rate of a plain multiprocessing script). A worker that
        # dies hands these back within seconds (labeler.worker.handback).
        worker_prefetch_multiplier=2,
        worker_proc_alive_timeout=60,
        worker_cancel_long_running_tasks_on_connection_loss=True,
        worker_hijack_root_logger=False,
        # Three events a chunk (received, started, succeeded) published to whoever listens
        # (Flower, `celery events`); nobody listening costs a PUBLISH each. With "auto" a
        # worker starts sending them when a monitor broadcasts `enable_events`.
        worker_send_task_events=settings.task_events == "on",
        task_send_sent_event=settings.task_events == "on",
        task_create_missing_queues=True,
    )
    if url.startswith("rediss://"):
        app.conf.broker_use_ssl = {"ssl_cert_reqs": "required"}
    return app

