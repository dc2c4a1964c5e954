"""kill -9 on workers mid-job, and a rolling restart: late acknowledgement, requeue on worker
loss, chunks of dead workers handed back by the live ones, and idempotent writes mean every
image ends up exactly once in the results, within seconds of the fault (the visibility
timeout stays at its default of minutes)."""

import json
import os
import signal
import time

from labeler.job_duplicates import job_duplicates
from labeler.waiting import wait_for_job
from tests.conftest import cli_env, run_cli, start_worker, stop_process, wait_for_workers
from tests.faults.conftest import (
    RECOVERY_SECONDS,
    SMALL_CHUNKS,
    ledger,
    pool_children,
    reconcile,
)
from tests.waiting import wait_until


def _submit(env, folder) -> str:
    proc = run_cli(["submit", str(folder), "--json"], env)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)["job"]


def _all_there_once(store, job_id, folder) -> None:
    result = reconcile(store, job_id, ledger(folder))
    assert result["lost"] == set() and result["unexpected"] == set()
    assert result["duplicates"] == 0 and result["failed"] == {}
    # The folder is one image 1,200 times: every signature was kept, whoever wrote it.
    found = job_duplicates(store, job_id)
    assert (found.compared, found.groups, len(found.rows)) == (1200, 1, 1200)


def test_pool_process_killed_mid_job_is_replaced_and_its_chunk_redone(
    heavy_folder, labeler_home, redis_url, store
):
    env = cli_env(labeler_home, redis_url, **SMALL_CHUNKS)
    worker = start_worker(env)
    try:
        wait_for_workers(store)
        job_id = _submit(env, heavy_folder)
        killed = []
        for threshold in (200, 500):
            wait_until(lambda t=threshold: store.progress(job_id).done >= t, 60, "progress")
            victim = next(p for p in pool_children(worker.pid) if p not in killed)
            os.kill(victim, signal.SIGKILL)
            fault = time.monotonic()
            killed.append(victim)
            wait_until(lambda: set(pool_children(worker.pid)) - set(killed), 30,
                       "a replacement pool process")
        job = wait_for_job(store, job_id, timeout=120)
        recovered = time.monotonic() - fault
        assert worker.poll() is None, "the worker itself stays up"
    finally:
        stop_process(worker)
    assert len(killed) == 2 and job.labelled == job.total == 1200
    _all_there_once(store, job_id, heavy_folder)
    assert recovered < RECOVERY_SECONDS


def test_whole_worker_killed_mid_job_a_new_worker_finishes_it(
    heavy_folder, labeler_home, redis_url, store
):
    env = cli_env(labeler_home, redis_url, **SMALL_CHUNKS)
    first = start_worker(env)
    wait_for_workers(store)
    job_id = _submit(env, heavy_folder)
    wait_until(lambda: store.progress(job_id).done >= 200, 60, "progress")
    stop_process(first, signal.SIGKILL)
    fault = time.monotonic()
    assert store.progress(job_id).done < 1200, "the kill must land mid-job"

    second = start_worker(env)
    try:
        job = wait_for_job(store, job_id, timeout=180)
        recovered = time.monotonic() - fault
    finally:
        stop_process(second)
    assert job.labelled == 1200
    _all_there_once(store, job_id, heavy_folder)
    assert recovered < RECOVERY_SECONDS


def test_a_rolling_restart_loses_nothing_and_waits_for_no_timeout(
    heavy_folder, labeler_home, redis_url, store
):
    env = cli_env(labeler_home, redis_url, **SMALL_CHUNKS)
    workers = [start_worker(env), start_worker(env)]
    wait_for_workers(store, 2)
    job_id = _submit(env, heavy_folder)
    started = time.monotonic()
    try:
        for threshold in (150, 450):
            wait_until(lambda t=threshold: store.progress(job_id).done >= t, 60, "progress")
            old = workers.pop(0)
            old.send_signal(signal.SIGTERM)  # Celery's warm shutdown: reserved chunks go back
            workers.append(start_worker(env))
            old.wait(timeout=60)
        job = wait_for_job(store, job_id, timeout=180)
        took = time.monotonic() - started
    finally:
        for worker in workers:
            stop_process(worker)
    assert job.labelled == 1200
    _all_there_once(store, job_id, heavy_folder)
    assert took < RECOVERY_SECONDS
