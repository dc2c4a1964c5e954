"""Images in a bucket, end to end, against a real S3-protocol server (moto) on loopback: real
Redis, real `labeler` commands and workers, credentials only in the environment."""

from __future__ import annotations

import csv
import io
import json
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from labeler.store.keys import bits_key
from labeler.waiting import wait_for_job
from tests.conftest import (
    cifar_test_images,
    cli_env,
    run_cli,
    start_worker,
    stop_process,
    wait_for_workers,
)
from tests.faults.conftest import RECOVERY_SECONDS, reconcile
from tests.integration import s3_server
from tests.waiting import answers, wait_until

IMAGES = 2000


@pytest.fixture(scope="module")
def s3(tmp_path_factory):
    server = s3_server.start(tmp_path_factory.mktemp("moto"))
    yield server
    server.stop()


@pytest.fixture(scope="module")
def cifar(s3, tmp_path_factory) -> tuple[Path, str]:
    """2,000 CIFAR-10 test JPEGs in a folder, and the same files under s3://photos/cifar."""
    folder = tmp_path_factory.mktemp("cifar")
    cifar_test_images(folder, IMAGES)
    fs = s3.filesystem()
    fs.mkdir("photos")
    fs.put(f"{folder}/", "photos/cifar", recursive=True)
    return folder, "s3://photos/cifar"


def _submit(env: dict, source: str, *args: str, timeout: float = 300) -> dict:
    proc = run_cli(["submit", source, "--no-spawn", "--json", *args], env, timeout=timeout)
    assert proc.returncode in (0, 3), proc.stderr
    return json.loads(proc.stdout.strip().splitlines()[-1])


def _rows(text: str) -> list[dict]:
    return list(csv.DictReader(io.StringIO(text)))


def test_a_bucket_is_labelled_exactly_as_the_same_folder(
    s3, cifar, labeler_home, redis_url, store, tmp_path
):
    folder, bucket = cifar
    base = cli_env(labeler_home, redis_url)
    worker = start_worker(s3.env(base))
    try:
        wait_for_workers(store)
        _submit(s3.env(base), str(folder), "--wait", "-o", str(tmp_path / "folder.csv"))
    finally:
        stop_process(worker)
    # This worker may read no folder at all: only the bucket.
    no_folders = {"LABELER_ALLOWED_ROOTS": str(tmp_path / "nothing"),
                  "LABELER_ALLOWED_BUCKETS": "s3://photos"}
    env = s3.env(cli_env(labeler_home, redis_url, **no_folders))
    worker = start_worker(env)
    try:
        wait_for_workers(store)
        job = _submit(env, bucket, "--wait", "-o", "s3://photos/out/labels.csv")
    finally:
        stop_process(worker)
    assert (job["total"], job["labelled"], job["failed"]) == (IMAGES, IMAGES, 0)
    assert store.job_record(job["job"])["root"] == bucket
    from_bucket = s3.filesystem().cat_file("photos/out/labels.csv").decode()
    assert from_bucket == (tmp_path / "folder.csv").read_bytes().decode()

    # Parquet holds the same rows as the CSV, typed.
    proc = run_cli(["results", job["job"], "-o", str(tmp_path / "labels.parquet")], env)
    assert proc.returncode == 0, proc.stderr
    table = pq.read_table(tmp_path / "labels.parquet")
    assert table.num_rows == IMAGES
    for row, want in zip(table.to_pylist(), _rows(from_bucket), strict=True):
        top_k = ";".join(f"{p['label']}:{p['probability']}" for p in row["top_k"])
        assert (row["path"], row["label"], row["confidence"], row["margin"], top_k,
                row["model"]) == (want["path"], want["label"], float(want["confidence"]),
                                  float(want["margin"]), want["top_k"], want["model"])


def test_a_missing_bucket_or_refused_credentials_is_one_line(s3, labeler_home, redis_url):
    env = s3.env(cli_env(labeler_home, redis_url))
    proc = run_cli(["submit", "s3://no-such-bucket/photos", "--no-spawn"], env)
    assert proc.returncode == 2
    assert proc.stderr.strip() == "Error: s3://no-such-bucket/photos does not exist (no such " \
                                  "bucket)"
    proc = run_cli(["submit", "s3://photos/cifar", "--no-spawn"],
                   s3.env(env, key="AKIAUNKNOWNKEY000000"))
    assert proc.returncode != 0 and len(proc.stderr.strip().splitlines()) == 1
    assert "refused" in proc.stderr and "credentials" in proc.stderr
    assert "wrong-secret" not in proc.stderr


def test_a_stalled_store_refused_reads_and_a_deleted_object_fail_as_items_and_lose_nothing(
    s3, cifar, labeler_home, redis_url, store
):
    fs = s3.filesystem()
    fs.mkdir("faults")
    keys = sorted(fs.find("photos/cifar"))[:60]
    for n, key in enumerate(keys):
        fs.copy(key, f"faults/set/{n:03d}.jpg")
    base = cli_env(labeler_home, redis_url, LABELER_FETCH_TIMEOUT="2")
    env = s3.env(base)
    job_id = _submit(env, "s3://faults/set")["job"]

    def run_with(worker_env: dict) -> dict[str, str]:
        worker = start_worker(worker_env)
        try:
            job = wait_for_job(store, job_id, timeout=120)
        finally:
            stop_process(worker)
        assert job.done == job.total == 60  # every item labelled or given a reason
        return {i.path: i.error for i in store.iter_items(job_id) if i.error}

    stalled = s3_server.StalledStore()
    try:
        failed = run_with(s3.env(base, endpoint=stalled.endpoint))
    finally:
        stalled.close()
    assert set(failed.values()) == {"timeout: no answer from the store in 2 s"}
    assert len(failed) == 60

    _submit(env, "s3://faults/set", "--resume", job_id)
    failed = run_with(s3.env(base, key="AKIAUNKNOWNKEY000000"))
    assert len(failed) == 60
    assert all(e.startswith("unreadable: AccessDenied") for e in failed.values()), failed
    assert not any("wrong-secret" in e for e in failed.values())

    _submit(env, "s3://faults/set", "--resume", job_id)
    fs.rm("faults/set/007.jpg")  # after the listing, before a worker reads it
    failed = run_with(env)
    assert failed == {"007.jpg": "missing: deleted after listing"}


def test_resume_labels_again_an_object_that_changed(
    s3, cifar, labeler_home, redis_url, store
):
    fs = s3.filesystem()
    fs.mkdir("changes")
    keys = sorted(fs.find("photos/cifar"))
    for n, key in enumerate(keys[:40]):
        fs.copy(key, f"changes/{n:03d}.jpg")
    env = s3.env(cli_env(labeler_home, redis_url))
    worker = start_worker(env)
    try:
        wait_for_workers(store)
        job_id = _submit(env, "s3://changes", "--wait")["job"]
        before = {i.path: i.result for i in store.iter_items(job_id)}
        assert store.review_items(job_id, {3: "frog"}, "tester") == 1
        # 003.jpg becomes another picture (its ETag changes); 040.jpg is new.
        fs.copy(keys[-1], "changes/003.jpg")
        fs.copy(keys[-2], "changes/040.jpg")
        proc = run_cli(["submit", "s3://changes", "--no-spawn", "--resume", job_id, "--wait"],
                       env)
        assert proc.returncode == 0, proc.stderr
        assert "2 of 41 images left to label" in proc.stderr
        after = {i.path: i.result for i in store.iter_items(job_id)}
        check = _submit(env, "s3://changes", "--wait")["job"]  # a fresh job of the same prefix
        fresh = {i.path: i.result for i in store.iter_items(check)}
    finally:
        stop_process(worker)
    assert len(after) == 41 and after == fresh
    assert after["003.jpg"] != before["003.jpg"]
    # Nothing said of the old picture stays: its review, its class.
    assert store.reviews_of(job_id, [3]) == {}
    classes = store.tables(job_id)[0]
    assert [c for rank, c in enumerate(classes)
            if store.redis.getbit(bits_key(job_id, rank), 3)] == [after["003.jpg"].label]
    assert all(after[p] == before[p] for p in before if p != "003.jpg")


def test_a_worker_killed_mid_chunk_loses_no_object(
    s3, cifar, labeler_home, redis_url, store
):
    env = s3.env(cli_env(labeler_home, redis_url, LABELER_CHUNK_IMAGES="20"))
    first = start_worker(env)
    wait_for_workers(store)
    job_id = _submit(env, cifar[1])["job"]
    wait_until(lambda: store.progress(job_id).done >= 200, 60, "progress")
    stop_process(first, signal.SIGKILL)
    fault = time.monotonic()
    assert store.progress(job_id).done < IMAGES, "the kill must land mid-job"
    second = start_worker(env)
    try:
        job = wait_for_job(store, job_id, timeout=180)
        recovered = time.monotonic() - fault
    finally:
        stop_process(second)
    listed = {k.removeprefix("photos/cifar/") for k in s3.filesystem().find("photos/cifar")}
    result = reconcile(store, job_id, listed)
    assert result == {"lost": set(), "unexpected": set(), "duplicates": 0, "failed": {}}
    assert job.labelled == IMAGES
    assert recovered < RECOVERY_SECONDS


def test_doctor_says_whether_this_machine_can_list_a_prefix(s3, cifar, labeler_home, redis_url):
    env = s3.env(cli_env(labeler_home, redis_url))
    for key, status in ((None, "ok"), ("AKIAUNKNOWNKEY000000", "fail")):
        proc = run_cli(["doctor", "--json", "--bucket", "s3://photos/cifar"], s3.env(env, key=key))
        [check] = [c for c in json.loads(proc.stdout) if c["check"].startswith("bucket")]
        assert check["status"] == status, check
        assert f"endpoint {s3.endpoint}, credentials from env" in check["detail"]
        assert s3.secret not in proc.stdout and "wrong-secret" not in proc.stdout
    assert "listed, 100 images in the first page (or more)" in run_cli(
        ["doctor", "--bucket", "s3://photos/cifar"], env).stdout


def test_a_submission_killed_mid_listing_is_finished_by_resume(
    s3, cifar, labeler_home, redis_url, store, bundle
):
    fs = s3.filesystem()
    fs.mkdir("halfway")
    keys = sorted(fs.find("photos/cifar"))[:30]
    for n, key in enumerate(keys):
        fs.copy(key, f"halfway/{n:03d}.jpg")
    # What a submission killed after its first page leaves: a job still listing, 10 keys in.
    store.create_job("cut", [], bundle.classes, root="s3://halfway", model=bundle.name,
                     precision="auto", top_k=3, queue="q", chunks=0, transport="bucket",
                     listing=1)
    store.append_listed("cut", [f"{n:03d}.jpg" for n in range(10)], ["?"] * 10)
    env = s3.env(cli_env(labeler_home, redis_url))
    worker = start_worker(env)
    try:
        wait_for_workers(store)
        proc = run_cli(["submit", "s3://halfway", "--no-spawn", "--resume", "cut", "--wait"],
                       env)
    finally:
        stop_process(worker)
    assert proc.returncode == 0, proc.stderr
    job = store.progress("cut")
    assert (job.total, job.labelled, job.listing) == (30, 30, False) and job.finished


def test_a_listing_that_breaks_says_how_to_finish_its_job(store, redis_url, bundle, monkeypatch):
    from labeler import submit_bucket
    from labeler.buckets import ListedObject, bucket_root
    from labeler.errors import ServiceError
    from labeler.settings import Settings

    def pages(root):
        yield [ListedObject(f"{n:03d}.jpg", 100, '"e"') for n in range(20)]
        raise OSError("connection reset by peer")

    monkeypatch.setattr(submit_bucket, "list_images", pages)
    with pytest.raises(ServiceError) as raised:
        submit_bucket.submit_bucket(store, redis_url, Settings.from_env({}),
                                    bucket_root("s3://any/where"), bundle, "int8")
    job_id = store.recent_jobs(1)[0].id
    assert str(raised.value) == (
        "listing s3://any/where stopped after 0 images were queued (OSError: connection reset "
        f"by peer); finish job {job_id} with: labeler submit s3://any/where --resume {job_id}")
    job = store.progress(job_id)
    assert job.listing and job.total == 20 and not job.finished


def test_the_page_shows_a_bucket_jobs_images_and_label_studio_gets_its_urls(
    s3, cifar, labeler_home, redis_url, store
):
    env = s3.env(cli_env(labeler_home, redis_url))
    fs = s3.filesystem()
    fs.mkdir("shown")
    keys = sorted(fs.find("photos/cifar"))[:3]
    for n, key in enumerate(keys):
        fs.copy(key, f"shown/{n}.jpg")
    worker = start_worker(env)
    try:
        wait_for_workers(store)
        job_id = _submit(env, "s3://shown", "--wait")["job"]
    finally:
        stop_process(worker)
    port = s3_server.free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "labeler.cli.main", "serve", "--port", str(port), "--no-spawn"],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        base = f"http://127.0.0.1:{port}/api/jobs/{job_id}"
        wait_until(lambda: answers(lambda: urllib.request.urlopen(base, timeout=5)), 60,
                   "labeler serve to answer")
        with urllib.request.urlopen(f"{base}/image?index=1&size=64", timeout=30) as response:
            assert response.status == 200 and response.read()[:2] == b"\xff\xd8"
        with pytest.raises(urllib.error.HTTPError) as missing:
            urllib.request.urlopen(f"{base}/image?index=7", timeout=30)
        assert missing.value.code == 404
    finally:
        stop_process(server)
    proc = run_cli(["results", job_id, "--format", "labelstudio", "--images", "bucket"], env)
    tasks = json.loads(proc.stdout)
    assert [t["data"]["image"] for t in tasks] == [f"s3://shown/{n}.jpg" for n in range(3)]
    assert s3.secret not in proc.stdout
