"""A decode that never returns, and a chunk that keeps failing: the worker stays up and every
item ends with a label or a reason."""

import os

from labeler.broker import configure
from labeler.protocol import TASK_NAME
from labeler.waiting import wait_for_job
from labeler.worker.tasks import MAX_DELIVERIES
from tests.conftest import (
    SHIPPED_CLASSES,
    cli_env,
    start_worker,
    stop_process,
    wait_for_workers,
    write_image,
)


def test_a_hanging_read_fails_its_item_and_the_rest_is_labelled(
    labeler_home, redis_url, store, tmp_path
):
    for i in range(30):
        write_image(tmp_path / f"ok{i:02d}.jpg", seed=i)
    # Opening a FIFO blocks forever: no writer ever comes.
    os.mkfifo(tmp_path / "stuck.jpg")
    os.mkfifo(tmp_path / "stuck2.jpg")
    worker = start_worker(cli_env(labeler_home, redis_url), "--decode-timeout", "2",
                          "--decode-threads", "1")
    try:
        wait_for_workers(store)
        queue = store.workers()[0]["queue"]
        items = ["ok00.jpg", "stuck.jpg", *[f"ok{i:02d}.jpg" for i in range(1, 15)],
                 "stuck2.jpg", *[f"ok{i:02d}.jpg" for i in range(15, 30)]]
        store.create_job("hang", items, SHIPPED_CLASSES, root=str(tmp_path), queue=queue,
                         top_k=1)
        configure(redis_url).send_task(TASK_NAME, args=["hang", 0, items], queue=queue)
        job = wait_for_job(store, "hang", timeout=60)
        # The worker still serves the next job after abandoning the stuck thread.
        store.create_job("after", ["ok05.jpg"], SHIPPED_CLASSES, root=str(tmp_path),
                         queue=queue, top_k=1)
        configure(redis_url).send_task(TASK_NAME, args=["after", 0, ["ok05.jpg"]], queue=queue)
        after = wait_for_job(store, "after", timeout=30)
        assert worker.poll() is None
    finally:
        stop_process(worker, timeout=5)
    assert (job.labelled, job.failed) == (30, 2)  # only the stuck files fail
    errors = {path: err for path, _, err in store.iter_items("hang") if err}
    assert all(errors[name].startswith("timeout") for name in ("stuck.jpg", "stuck2.jpg"))
    assert after.labelled == 1


def test_a_chunk_delivered_too_many_times_fails_its_items_with_a_reason(
    labeler_home, redis_url, store, worker, tmp_path
):
    write_image(tmp_path / "a.jpg", seed=1)
    queue = store.workers()[0]["queue"]
    store.create_job("poison", ["a.jpg"], SHIPPED_CLASSES, root=str(tmp_path), queue=queue,
                     top_k=1)
    for _ in range(MAX_DELIVERIES):  # as if it had crashed the pool process each time
        store.begin_chunk("poison", 0)
    configure(redis_url).send_task(TASK_NAME, args=["poison", 0, ["a.jpg"]], queue=queue)
    job = wait_for_job(store, "poison", timeout=30)
    assert job.failed == 1
    assert next(store.iter_items("poison"))[2].startswith("gave-up")
