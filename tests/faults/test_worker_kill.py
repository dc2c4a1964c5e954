"""kill -9 on workers mid-job: late acknowledgement, requeue on worker loss and idempotent
writes mean every image ends up exactly once in the results."""

import json
import os
import signal

from labeler.waiting import wait_for_job
from tests.conftest import cli_env, run_cli, start_worker, stop_process, wait_for_workers
from tests.faults.conftest import (
    FAST_FAILOVER,
    ledger,
    pool_children,
    reconcile,
    wait_until,
)


def _submit(env, folder) -> str:
    proc = run_cli(["submit", str(folder), "--json"], env)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)["job"]


def test_pool_process_killed_mid_job_is_replaced_and_its_chunk_redone(
    heavy_folder, labeler_home, redis_url, store
):
    env = cli_env(labeler_home, redis_url, **FAST_FAILOVER)
    worker = start_worker(env)
    try:
        wait_for_workers(store)
        job_id = _submit(env, heavy_folder)
        killed = []
        for threshold in (200, 500):
            wait_until(lambda t=threshold: store.progress(job_id).done >= t, 60, "progress")
            victim = next(p for p in pool_children(worker.pid) if p not in killed)
            os.kill(victim, signal.SIGKILL)
            killed.append(victim)
            wait_until(lambda: set(pool_children(worker.pid)) - set(killed), 30,
                       "a replacement pool process")
        job = wait_for_job(store, job_id, timeout=120)
        assert worker.poll() is None, "the worker itself stays up"
    finally:
        stop_process(worker)
    result = reconcile(store, job_id, ledger(heavy_folder))
    assert len(killed) == 2
    assert result["lost"] == set() and result["unexpected"] == set()
    assert result["duplicates"] == 0 and result["failed"] == {}
    assert job.labelled == job.total == 1200


def test_whole_worker_killed_mid_job_a_new_worker_finishes_it(
    heavy_folder, labeler_home, redis_url, store
):
    env = cli_env(labeler_home, redis_url, **FAST_FAILOVER)
    first = start_worker(env)
    wait_for_workers(store)
    job_id = _submit(env, heavy_folder)
    wait_until(lambda: store.progress(job_id).done >= 200, 60, "progress")
    stop_process(first, signal.SIGKILL)
    done_at_kill = store.progress(job_id).done
    assert done_at_kill < 1200, "the kill must land mid-job"

    second = start_worker(env)
    try:
        job = wait_for_job(store, job_id, timeout=180)
    finally:
        stop_process(second)
    result = reconcile(store, job_id, ledger(heavy_folder))
    assert result["lost"] == set() and result["duplicates"] == 0 and result["failed"] == {}
    assert job.labelled == 1200
