"""A decode that never returns, and a chunk that keeps failing: the worker stays up and every
item ends with a label or a reason."""

import os
from pathlib import Path

from labeler.broker import configure
from labeler.protocol import TASK_NAME
from labeler.store.keys import attempts_key
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
from tests.faults.killing_decoder.sitecustomize import POISON


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
        queue = wait_for_workers(store)[0]["queue"]
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
    queue = wait_for_workers(store)[0]["queue"]
    store.create_job("poison", ["a.jpg"], SHIPPED_CLASSES, root=str(tmp_path), queue=queue,
                     top_k=1)
    for _ in range(MAX_DELIVERIES):  # as if it had crashed the pool process each time
        store.begin_chunk("poison", 0)
    configure(redis_url).send_task(TASK_NAME, args=["poison", 0, ["a.jpg"]], queue=queue)
    job = wait_for_job(store, "poison", timeout=30)
    assert job.failed == 1
    assert next(store.iter_items("poison"))[2].startswith("gave-up")


def test_an_image_that_kills_its_worker_fails_alone_and_the_chunk_is_labelled(
    labeler_home, redis_url, store, tmp_path
):
    images = tmp_path / "images"
    images.mkdir()
    items = []
    for i in range(150):
        name = f"{i:03d}.jpg"
        if i == 70:  # in the chunk's second batch of 64
            (images / name).write_bytes(POISON + b" not an image")
        else:
            write_image(images / name, seed=i)
        items.append(name)
    shim = Path(__file__).parent / "killing_decoder"
    env = cli_env(labeler_home, redis_url, PYTHONPATH=os.pathsep.join(
        [str(shim), os.environ.get("PYTHONPATH", "")]))
    worker = start_worker(env)
    try:
        queue = wait_for_workers(store)[0]["queue"]
        store.create_job("killer", items, SHIPPED_CLASSES, root=str(images), queue=queue,
                         top_k=1)
        configure(redis_url).send_task(TASK_NAME, args=["killer", 0, items], queue=queue)
        job = wait_for_job(store, "killer", timeout=120)
        assert worker.poll() is None  # Celery replaced the pool process each time
    finally:
        stop_process(worker, timeout=10)
    assert (job.labelled, job.failed) == (149, 1)
    errors = {path: error for path, _, error in store.iter_items("killer") if error}
    assert list(errors) == ["070.jpg"] and errors["070.jpg"].startswith("gave-up")
    # First delivery, then the chunk in batches, then the suspect batch one image at a time.
    assert int(store.redis.hget(attempts_key("killer"), "0")) == 4
    assert store.chunk_steps("killer", 0) is None
