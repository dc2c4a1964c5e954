"""Redis full, expired jobs, and the locked door: JSON only on the broker."""


import pytest
from kombu import Connection, Exchange, Producer

from labeler.broker import configure
from labeler.protocol import TASK_NAME
from labeler.redis_server import kombu_url
from labeler.store import Fleet
from labeler.waiting import wait_for_job
from tests.conftest import SHIPPED_CLASSES, cli_env, run_cli, wait_for_workers, write_image


@pytest.fixture
def full_redis(store):
    used = store.redis.info("memory")["used_memory"]
    store.redis.config_set("maxmemory", used + 1024)
    yield store
    store.redis.config_set("maxmemory", 0)


def test_a_full_redis_refuses_new_jobs_with_one_clear_line(
    full_redis, labeler_home, redis_url, tmp_path
):
    write_image(tmp_path / "a.jpg", seed=1)
    proc = run_cli(["submit", str(tmp_path)], cli_env(labeler_home, redis_url))
    assert proc.returncode == 1 and "Traceback" not in proc.stderr
    assert "full" in proc.stderr and "labeler forget" in proc.stderr


def test_forget_deletes_a_job_and_later_reads_say_it_expired(labeler_home, redis_url, store):
    store.create_job("old", ["a.jpg"], root="/r", queue="q")
    env = cli_env(labeler_home, redis_url)
    assert "deleted" in run_cli(["forget", "old"], env).stdout
    proc = run_cli(["results", "old"], env)
    assert proc.returncode == 1 and "expired" in proc.stderr
    assert store.recent_jobs() == []


def test_a_pickled_message_is_refused_and_the_worker_carries_on(
    labeler_home, redis_url, store, worker, tmp_path
):
    write_image(tmp_path / "a.jpg", seed=1)
    queue = wait_for_workers(store)[0]["queue"]
    store.create_job("pickled", ["a.jpg"], SHIPPED_CLASSES, root=str(tmp_path), queue=queue,
                     top_k=1)
    with Connection(kombu_url(redis_url)) as conn:
        producer = Producer(conn.channel(), exchange=Exchange(queue, type="direct"),
                            routing_key=queue)
        producer.publish(
            {"args": ["pickled", 0, ["a.jpg"]]}, serializer="pickle",
            headers={"task": TASK_NAME, "id": "evil-1", "lang": "py"})
    # Sent after it on the same queue, a good task is taken after it: once that one is
    # labelled, the pickled one has been received, refused and taken off the queue.
    store.create_job("fine", ["a.jpg"], SHIPPED_CLASSES, root=str(tmp_path), queue=queue,
                     top_k=1)
    configure(redis_url).send_task(TASK_NAME, args=["fine", 0, ["a.jpg"]], queue=queue)
    assert wait_for_job(store, "fine", timeout=30).labelled == 1
    assert store.progress("pickled").done == 0  # never executed
    assert Fleet(store.redis).queue_depth(queue) == 0
    assert worker.poll() is None
