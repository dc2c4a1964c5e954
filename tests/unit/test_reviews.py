"""People's reviews in the job store, against a real Redis: the paging index follows them,
"needs review" forgets them, and they come back as a manifest."""

import pytest

from labeler.errors import UsageError
from labeler.job_reviews import REVIEWED_HEADER, reviewed_rows, write_reviewed
from labeler.manifest import read_manifest
from labeler.protocol import LabelResult

CLASSES = ("cat", "dog", "bird")


def _labelled_job(store, job_id="r1"):
    paths = [f"{i}.jpg" for i in range(10)]
    store.create_job(job_id, paths, CLASSES, root="/photos", queue="q")
    results = {i: LabelResult(CLASSES[i % 3], 0.5 + i / 20, 0.1,
                              ((CLASSES[i % 3], 0.5 + i / 20),), "m") for i in range(9)}
    store.record_chunk(job_id, results, {9: "corrupt: not an image"})
    return job_id


def _indices(page):
    return [index for index, _ in page[1]]


def test_a_correction_moves_the_item_to_its_new_class_and_out_of_needs_review(store):
    job = _labelled_job(store)
    assert store.label_counts(job) == {"cat": 3, "dog": 3, "bird": 3, "failed": 1}
    assert store.count_below(job, 0.7) == 4
    assert store.review_items(job, {0: "dog", 1: "dog", 9: "cat"}, "alice") == 2
    assert store.label_counts(job) == {"cat": 2, "dog": 4, "bird": 3, "failed": 1}
    assert store.count_below(job, 0.7) == 2  # items 2 and 3; 0 and 1 are reviewed
    assert _indices(store.page(job, label="dog", sort="confidence")) == [0, 1, 4, 7]
    assert _indices(store.page(job, label="dog")) == [0, 1, 4, 7]  # by path: the bitmap
    assert store.review_counts(job) == {"reviewed": 2, "corrected": 1}
    reviews = store.reviews_of(job, [0, 1, 2])
    assert (reviews[0].label, reviews[0].model, reviews[0].source) == ("dog", "cat",
                                                                       "corrected")
    assert reviews[1].source == "accepted" and 2 not in reviews
    # Reviewed again: the latest decision counts, the model's label is remembered.
    store.review_items(job, {0: "cat"}, "bob")
    assert store.reviews_of(job, [0])[0].source == "accepted"
    assert store.label_counts(job)["cat"] == 3


def test_not_yet_reviewed_in_every_order_and_accept_above(store):
    job = _labelled_job(store, "r2")
    store.review_items(job, {2: "bird"}, "alice")
    assert _indices(store.page(job, unreviewed=True)) == [0, 1, 3, 4, 5, 6, 7, 8, 9]
    least = _indices(store.page(job, sort="confidence", unreviewed=True))
    assert least == [9, 0, 1, 3, 4, 5, 6, 7, 8]
    assert store.acceptable(job, 0.8) == 3  # 6, 7, 8: at or above 0.8
    assert store.accept_above(job, 0.8, "bob") == 3
    assert store.acceptable(job, 0.8) == 0
    assert _indices(store.page(job, sort="-confidence", unreviewed=True))[:2] == [5, 4]
    assert _indices(store.page(job, sort="-confidence"))[:3] == [8, 7, 6]
    assert [(r.index, r.by, r.source) for r in store.iter_reviews(job)] == [
        (2, "alice", "accepted"), (6, "bob", "accepted"), (7, "bob", "accepted"),
        (8, "bob", "accepted")]


def test_reviews_are_a_manifest_train_reads(store, tmp_path):
    job = _labelled_job(store, "r3")
    store.review_items(job, {4: "cat", 5: "bird"}, "alice")
    rows = list(reviewed_rows(store, job))
    assert [(r[0], r[1], r[2], r[3]) for r in rows] == [
        ("/photos/4.jpg", "cat", "corrected", "alice"),
        ("/photos/5.jpg", "bird", "accepted", "alice")]
    out = tmp_path / "reviewed.csv"
    assert write_reviewed(store, job, out) == 2
    assert out.read_text().splitlines()[0] == ",".join(REVIEWED_HEADER)
    assert read_manifest(str(out)) == [("/photos/4.jpg", "cat"), ("/photos/5.jpg", "bird")]


def test_a_class_the_job_lacks_is_refused_and_forget_leaves_nothing(store):
    job = _labelled_job(store, "r4")
    with pytest.raises(UsageError, match="not classes of this job: horse"):
        store.review_items(job, {0: "horse"}, "alice")
    store.review_items(job, {0: "dog"}, "alice")
    store.accept_above(job, 0.5, "bob")
    assert store.forget_job(job)
    assert not store.redis.keys(f"labeler:job:{job}*")
