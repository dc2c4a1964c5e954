"""The job store against a real Redis (started by the tests)."""

from labeler.jobstore import JobState
from labeler.protocol import LabelResult


def _result(label="cat", p=0.9):
    return LabelResult(label, p, p, ((label, p),), "m")


def test_progress_counts_results_and_errors_against_total(store):
    store.create_job("j1", 4, root="/r", queue="q")
    assert store.progress("j1").state is JobState.QUEUED
    store.begin_chunk("j1", 0)
    store.record_chunk("j1", {"a.jpg": _result(), "b.jpg": _result()}, {"c.jpg": "corrupt: x"})
    job = store.progress("j1")
    assert (job.labelled, job.failed, job.state) == (2, 1, JobState.RUNNING)
    store.record_chunk("j1", {"d.jpg": _result()}, {})
    job = store.progress("j1")
    assert job.state is JobState.DONE and job.finished is not None


def test_a_retried_chunk_overwrites_instead_of_double_counting(store):
    store.create_job("j2", 2, root="/r", queue="q")
    for _ in range(3):
        store.record_chunk("j2", {"a.jpg": _result()}, {"b.jpg": "truncated: x"})
    job = store.progress("j2")
    assert (job.labelled, job.failed) == (1, 1)


def test_an_item_that_later_succeeds_leaves_the_error_list(store):
    store.create_job("j3", 1, root="/r", queue="q")
    store.record_chunk("j3", {}, {"a.jpg": "unreadable: busy"})
    store.record_chunk("j3", {"a.jpg": _result("dog")}, {})
    job = store.progress("j3")
    assert (job.labelled, job.failed) == (1, 0)
    assert list(store.iter_items("j3")) == [("a.jpg", _result("dog"), None)]


def test_items_come_back_sorted_with_errors(store):
    store.create_job("j4", 3, root="/r", queue="q")
    store.record_chunk("j4", {"b.jpg": _result(), "a.jpg": _result()}, {"c.jpg": "empty: x"})
    items = list(store.iter_items("j4"))
    assert [i[0] for i in items] == ["a.jpg", "b.jpg", "c.jpg"]
    assert items[2] == ("c.jpg", None, "empty: x")


def test_job_keys_expire(store):
    store.create_job("j5", 1, root="/r", queue="q")
    store.record_chunk("j5", {"a.jpg": _result()}, {})
    for key in ("labeler:job:j5", "labeler:job:j5:results"):
        assert 0 < store.redis.ttl(key) <= 3600


def test_recent_jobs_newest_first_and_unknown_job_is_none(store):
    store.create_job("old", 1, root="/r", queue="q")
    store.create_job("new", 1, root="/r", queue="q")
    assert [j.id for j in store.recent_jobs()] == ["new", "old"]
    assert store.progress("missing") is None


def test_workers_are_listed_by_queue_until_their_heartbeat_lapses(store):
    store.heartbeat("w1", {"name": "w1", "queue": "qa", "queues": ["qa", "qb"]}, ttl=30)
    assert [w["name"] for w in store.workers("qb")] == ["w1"]
    assert store.workers("qc") == []
    store.forget_worker("w1")
    assert store.workers() == []


def test_only_one_caller_may_spawn_a_local_worker_at_a_time(store):
    assert store.claim_spawn("q", seconds=30)
    assert not store.claim_spawn("q", seconds=30)


def test_attempts_are_counted_per_chunk(store):
    store.create_job("j", 2, root="/r", queue="q")
    assert [store.begin_chunk("j", 0)[1] for _ in range(3)] == [1, 2, 3]
    assert store.begin_chunk("j", 1)[1] == 1


def test_a_chunk_of_a_deleted_job_finds_no_record_and_recreates_nothing(store):
    assert store.begin_chunk("gone", 0)[0] == {}
    assert not store.redis.exists("labeler:job:gone")


def test_the_write_of_a_chunk_returns_the_progress_it_made(store):
    store.create_job("j6", 2, root="/r", queue="q")
    job = store.record_chunk("j6", {"a.jpg": _result()}, {"b.jpg": "empty: x"})
    assert (job.labelled, job.failed, job.state) == (1, 1, JobState.DONE)
    assert store.progress("j6").finished is not None
