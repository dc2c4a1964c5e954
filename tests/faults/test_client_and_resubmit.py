"""The submitting client dying, and resubmitting a folder without redoing finished images."""

import csv
import json
import shutil
import signal
import subprocess
import sys

from labeler.job_duplicates import job_duplicates
from labeler.waiting import wait_for_job
from tests.conftest import cli_env, run_cli, write_image
from tests.faults.conftest import SMALL_CHUNKS, ledger, reconcile
from tests.waiting import wait_until


def test_the_job_outlives_its_client_and_any_shell_can_read_it(
    heavy_folder, labeler_home, redis_url, store, worker, tmp_path
):
    env = cli_env(labeler_home, redis_url, **SMALL_CHUNKS)
    client = subprocess.Popen([sys.executable, "-m", "labeler.cli.main", "submit",
                               str(heavy_folder), "--wait"], env=env,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    wait_until(lambda: store.recent_jobs() and store.recent_jobs()[0].done > 100, 60, "progress")
    client.send_signal(signal.SIGKILL)
    client.wait()
    job_id = store.recent_jobs()[0].id
    wait_for_job(store, job_id, timeout=120)

    status = json.loads(run_cli(["status", job_id, "--json"], env).stdout)
    assert (status["state"], status["labelled"]) == ("done", 1200)
    out = tmp_path / "r.csv"
    assert run_cli(["results", job_id, "-o", str(out)], env).returncode == 0
    assert len(list(csv.DictReader(out.open()))) == 1200
    assert reconcile(store, job_id, ledger(heavy_folder))["lost"] == set()


def test_resubmitting_with_resume_labels_only_new_and_failed_images(
    labeler_home, redis_url, store, worker, tmp_path
):
    env = cli_env(labeler_home, redis_url)
    for i in range(40):
        write_image(tmp_path / f"{i:02d}.jpg", seed=i)
    (tmp_path / "broken.jpg").write_bytes(b"not yet")
    first = json.loads(run_cli(["submit", str(tmp_path), "--wait", "--json"], env)
                       .stdout.splitlines()[-1])
    assert (first["labelled"], first["failed"]) == (40, 1)
    before = {path: result for path, result, _ in store.iter_items(first["job"]) if result}

    write_image(tmp_path / "broken.jpg", seed=99)  # the user fixed it
    shutil.copyfile(tmp_path / "00.jpg", tmp_path / "new.jpg")  # and added a copy of one
    proc = run_cli(["submit", str(tmp_path), "--resume", first["job"], "--json"], env)
    again = json.loads(proc.stdout)
    assert again["job"] == first["job"] and again["total"] == 42
    assert again["chunks"] == 1  # only the two unlabelled images were enqueued
    job = wait_for_job(store, first["job"], timeout=60)
    assert (job.labelled, job.failed, job.total) == (42, 0, 42)
    after = {path: result for path, result, _ in store.iter_items(first["job"]) if result}
    assert {k: after[k] for k in before} == before
    # The first run's signatures are kept: the copy labelled now joins its original.
    assert [row.path for row in job_duplicates(store, first["job"]).rows] == ["00.jpg", "new.jpg"]

    # A resume with --wait reports this run: what it queued and labelled, in its own time.
    write_image(tmp_path / "newer.jpg", seed=101)
    proc = run_cli(["submit", str(tmp_path), "--resume", first["job"], "--wait"], env)
    assert proc.returncode == 0, proc.stderr
    assert "1 of 43 images left to label in 1 chunk " in proc.stderr
    summary = proc.stderr.strip().splitlines()[-1]
    assert summary.startswith("1 labelled, 0 failed in ")
    assert "the job now has 43 of 43 labelled" in summary
    seconds = float(summary.split(" in ")[1].split(" s ")[0])
    assert seconds < 60


def test_resume_refuses_another_folder(labeler_home, redis_url, store, tmp_path):
    store.create_job("other", ["a.jpg"], root="/somewhere/else", queue="q")
    write_image(tmp_path / "a.jpg", seed=1)
    proc = run_cli(["submit", str(tmp_path), "--resume", "other"],
                   cli_env(labeler_home, redis_url))
    assert proc.returncode == 1 and "not" in proc.stderr and "Traceback" not in proc.stderr
