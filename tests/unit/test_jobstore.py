"""The job store against a real Redis (started by the tests)."""

import pytest

from labeler.protocol import Item, LabelResult
from labeler.store import JobState

CLASSES = ("cat", "dog", "bird")


def _result(label="cat", p=0.9):
    return LabelResult(label, p, p, ((label, p),), "m")


def _job(store, job_id, *paths):
    store.create_job(job_id, list(paths), CLASSES, root="/r", queue="q")


def test_progress_counts_results_and_errors_against_total(store):
    _job(store, "j1", "a.jpg", "b.jpg", "c.jpg", "d.jpg")
    assert store.progress("j1").state is JobState.QUEUED
    store.begin_chunk("j1", 0)
    store.record_chunk("j1", {0: _result(), 1: _result()}, {2: "corrupt: x"})
    job = store.progress("j1")
    assert (job.labelled, job.failed, job.state) == (2, 1, JobState.RUNNING)
    store.record_chunk("j1", {3: _result()}, {})
    job = store.progress("j1")
    assert job.state is JobState.DONE and job.finished is not None


def test_a_retried_chunk_overwrites_instead_of_double_counting(store):
    _job(store, "j2", "a.jpg", "b.jpg")
    for _ in range(3):
        store.record_chunk("j2", {0: _result()}, {1: "truncated: x"})
    job = store.progress("j2")
    assert (job.labelled, job.failed) == (1, 1)


def test_an_item_that_later_succeeds_leaves_the_error_list(store):
    _job(store, "j3", "a.jpg")
    store.record_chunk("j3", {}, {0: "unreadable: busy"})
    store.record_chunk("j3", {0: _result("dog")}, {})
    job = store.progress("j3")
    assert (job.labelled, job.failed) == (1, 0)
    assert list(store.iter_items("j3")) == [("a.jpg", _result("dog"), None)]
    assert store.label_counts("j3") == {"dog": 1}


def test_items_come_back_in_path_order_with_errors(store):
    _job(store, "j4", "a.jpg", "b.jpg", "c.jpg")
    store.record_chunk("j4", {1: _result(), 0: _result()}, {2: "empty: x"})
    items = list(store.iter_items("j4"))
    assert [i[0] for i in items] == ["a.jpg", "b.jpg", "c.jpg"]
    assert items[2] == ("c.jpg", None, "empty: x")


def test_a_stored_result_keeps_every_field(store):
    _job(store, "j7", "a.jpg")
    full = LabelResult("dog", 0.7123456, 0.5, (("dog", 0.7123456), ("cat", 0.2123456),
                                               ("bird", 1.2e-05)), "b:int8:abc")
    store.record_chunk("j7", {0: full}, {})
    assert next(store.iter_items("j7")) == Item("a.jpg", full, None)


def test_job_keys_expire(store):
    _job(store, "j5", "a.jpg")
    store.record_chunk("j5", {0: _result()}, {})
    for key in ("labeler:job:j5", "labeler:job:j5:results", "labeler:job:j5:paths",
                "labeler:job:j5:rank"):
        assert 0 < store.redis.ttl(key) <= 3600


def test_forgetting_a_job_deletes_every_key_it_had(store):
    _job(store, "j8", "a.jpg", "b.jpg")
    store.record_chunk("j8", {0: _result()}, {1: "empty: x"})
    store.save_chunk_steps("j8", 0, {"step": [1]})
    assert store.forget_job("j8")
    assert list(store.redis.scan_iter("labeler:job:j8*")) == []


def test_recent_jobs_newest_first_and_unknown_job_is_none(store):
    _job(store, "old", "a.jpg")
    _job(store, "new", "a.jpg")
    assert [j.id for j in store.recent_jobs()] == ["new", "old"]
    assert store.progress("missing") is None


def test_attempts_are_counted_per_chunk(store):
    _job(store, "j", "a.jpg", "b.jpg")
    assert [store.begin_chunk("j", 0)[1] for _ in range(3)] == [1, 2, 3]
    assert store.begin_chunk("j", 1)[1] == 1


def test_a_redelivered_chunk_finds_its_steps_and_which_items_are_written(store):
    _job(store, "j", *(f"{i}.jpg" for i in range(30)))
    store.record_chunk("j", {3: _result(), 17: _result("dog")}, {20: "empty: x"})
    assert store.done_among("j", range(2, 30)) == {3, 17, 20}
    assert store.done_among("j", [4, 5]) == set() and store.done_among("j", []) == set()
    assert store.chunk_steps("j", 0) is None
    store.save_chunk_steps("j", 0, {"step": [4, 5], "suspects": [], "condemned": []})
    assert store.chunk_steps("j", 0)["step"] == [4, 5] and store.chunk_steps("j", 1) is None
    progress = store.record_chunk("j", {i: _result() for i in range(30) if i not in (3, 17, 20)},
                                  {}, steps_of=0)
    assert progress.done == 30 and store.chunk_steps("j", 0) is None


def test_a_chunk_of_a_deleted_job_finds_no_record_and_recreates_nothing(store):
    assert store.begin_chunk("gone", 0)[0] == {}
    assert not store.redis.exists("labeler:job:gone")


def test_the_write_of_a_chunk_returns_the_progress_it_made(store):
    _job(store, "j6", "a.jpg", "b.jpg")
    job = store.record_chunk("j6", {0: _result()}, {1: "empty: x"})
    assert (job.labelled, job.failed, job.state) == (1, 1, JobState.DONE)
    assert store.progress("j6").finished is not None


def test_paths_are_found_by_index_and_index_by_path(store):
    _job(store, "j9", "a.jpg", "b/c.jpg")
    assert store.find_items("j9", ["b/c.jpg", "nope.jpg"]) == [1, None]
    assert store.item_path("j9", 0) == "a.jpg" and store.item_path("j9", 5) is None


# The paging index against a plain sort of the same items, over every query the page makes.
def _paged_job(store):
    import random

    rng = random.Random(4)
    paths = [f"{i:03d}.jpg" for i in range(300)]
    _job(store, "pg", *paths)
    results, errors = {}, {}
    for i in range(300):
        if i % 17 == 0:
            errors[i] = "corrupt: x"
        else:  # ties on purpose: few distinct confidences
            results[i] = _result(rng.choice(CLASSES), rng.choice([0.4, 0.5, 0.9, 0.9999999, 1.0]))
    store.record_chunk("pg", results, errors)
    return paths, results, errors


def _expected(paths, results, errors, label, below, sort):
    rows = []
    for i in range(len(paths)):
        result = results.get(i)
        if label == "failed" and i not in errors or label not in (None, "failed") and (
                result is None or result.label != label):
            continue
        if below is not None and (result is None or result.confidence >= below):
            continue
        rows.append(i)
    if sort != "path" and label != "failed":  # failed items have no confidence: path order
        def key(i):
            r = results.get(i)
            return (-1, 0, str(i)) if r is None else (r.confidence, CLASSES.index(r.label),
                                                      str(i))
        rows.sort(key=key)
        if sort == "-confidence":
            rows.reverse()
    return rows


@pytest.mark.parametrize("label", [None, "cat", "failed", "dog"])
@pytest.mark.parametrize("below", [None, 0.95])
@pytest.mark.parametrize("sort", ["path", "confidence", "-confidence"])
def test_every_page_of_every_query_matches_a_plain_sort(store, label, below, sort):
    paths, results, errors = _paged_job(store)
    expected = _expected(paths, results, errors, label, below, sort)
    for offset, limit in [(0, 50), (37, 50), (len(expected) - 10, 50), (0, 1000)]:
        offset = max(0, offset)
        matched, page = store.page("pg", label, below, sort, offset, limit)
        assert matched == len(expected)
        got = [i for i, _ in page]
        if sort == "path" or label == "failed":
            assert got == expected[offset:offset + limit]
        else:  # ties may come in either order; the confidences may not
            conf = [results[i].confidence if i in results else -1 for i in got]
            want = [results[i].confidence if i in results else -1
                    for i in expected[offset:offset + limit]]
            assert conf == want and len(set(got)) == len(got)
    counts = store.label_counts("pg")
    assert counts["failed"] == len(errors)
    assert sum(counts.values()) == 300
    assert store.count_below("pg", 0.95) == sum(r.confidence < 0.95 for r in results.values())


def test_bitmaps_follow_scattered_chunks_retries_and_resubmission(store):
    # Indices far apart (runs split), next to each other across chunks (bytes shared),
    # failures that later succeed (bits cleared) and items written again with another class
    # all leave the by-path pages exact.
    paths = [f"{i:05d}.jpg" for i in range(5000)]
    _job(store, "sc", *paths)
    chunks = [list(range(0, 5000, 997)), list(range(3, 900, 7)), list(range(4, 40))]
    failed, labelled = set(), {}
    for n, chunk in enumerate(chunks):
        errors = {i: "corrupt: x" for i in chunk if i % 3 == 0 and i not in labelled}
        results = {i: _result(CLASSES[(i + n) % 3]) for i in chunk if i not in errors}
        store.record_chunk("sc", results, errors, rewrite=n > 0)
        failed = (failed | set(errors)) - set(results)
        labelled.update((i, r.label) for i, r in results.items())
    done = sorted(failed | set(labelled))
    assert [i for i, _ in store.page("sc", None, None, "path", 0, 10_000)[1]] == done
    assert [i for i, _ in store.page("sc", "failed", None, "path", 0, 10_000)[1]] == sorted(
        failed)
    for label in CLASSES:
        want = sorted(i for i, name in labelled.items() if name == label)
        assert [i for i, _ in store.page("sc", label, None, "path", 0, 10_000)[1]] == want
    store.reopen_job("sc", 5000, sorted(failed))
    assert store.page("sc", "failed", None, "path", 0, 10_000)[0] == 0
    assert store.progress("sc").done == len(labelled)


@pytest.mark.parametrize("indices", [[], [0], [7, 8], list(range(3, 259)),
                                     [5, 100_000, 100_001, 2_000_000], list(range(0, 9000, 511))])
def test_bit_runs_hold_exactly_the_indices(indices):
    from labeler.store.index import bit_runs, set_bits

    found = set()
    for first, data in bit_runs(indices):
        found.update(int(i) + first * 8 for i in set_bits(data))
        assert data[0] and data[-1]  # a run starts and ends on a byte with an index
    assert found == set(indices)
    assert sum(len(data) for _, data in bit_runs(indices)) <= 66 * max(1, len(indices))
