"""kill -9 on the embedded Redis mid-job: `submit --wait` restarts it from its append-only
file, the worker reconnects and hands back the chunks Celery cancelled, and the job finishes
within seconds with nothing lost or doubled."""

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from labeler.errors import ServiceError
from labeler.redis_server import connect, stop_redis
from labeler.store import Fleet, JobStore
from tests.conftest import cli_env
from tests.faults.conftest import RECOVERY_SECONDS, SMALL_CHUNKS, ledger, reconcile
from tests.waiting import wait_until


def _redis_pid(home: Path) -> int:
    return int((home / "redis" / "redis.pid").read_text())


def test_wait_rides_through_a_redis_crash_and_nothing_is_lost(heavy_folder):
    home = Path(tempfile.mkdtemp(prefix="lbr-", dir="/tmp"))
    env = cli_env(home, LABELER_WORKER_IDLE_EXIT="5", **SMALL_CHUNKS)
    submit = subprocess.Popen(
        [sys.executable, "-m", "labeler.cli.main", "submit", str(heavy_folder), "--wait",
         "--json"], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        socket = home / "redis" / "redis.sock"
        # The socket file appears a moment before Redis accepts on it (seen in CI).
        wait_until(lambda: _answers(socket), 30, "the embedded Redis")
        store = JobStore(connect(f"unix://{socket}"))
        wait_until(lambda: store.recent_jobs(), 30, "the job")
        job_id = store.recent_jobs()[0].id
        wait_until(lambda: store.progress(job_id).done >= 300, 90, "progress")
        old_pid = _redis_pid(home)
        os.kill(old_pid, signal.SIGKILL)
        fault = time.monotonic()

        out, err = submit.communicate(timeout=240)
        recovered = time.monotonic() - fault
        assert submit.returncode == 0, err
        summary = json.loads(out.strip().splitlines()[-1])
        assert (summary["labelled"], summary["failed"]) == (1200, 0)
        assert _redis_pid(home) != old_pid, "Redis was restarted"

        store = JobStore(connect(f"unix://{socket}"))
        result = reconcile(store, job_id, ledger(heavy_folder))
        assert result["lost"] == set() and result["duplicates"] == 0
        assert result["failed"] == {}
        assert recovered < RECOVERY_SECONDS, "no wait for the visibility timeout"
    finally:
        if submit.poll() is None:
            submit.kill()
        for worker in _workers(home):
            os.killpg(worker, signal.SIGKILL)
        stop_redis(home)
        shutil.rmtree(home, ignore_errors=True)


def _answers(socket: Path) -> bool:
    try:
        connect(f"unix://{socket}")
    except ServiceError:
        return False
    return True


def _workers(home: Path) -> list[int]:
    try:
        store = JobStore(connect(f"unix://{home / 'redis' / 'redis.sock'}"))
        return [w["pid"] for w in Fleet(store.redis).workers()]
    except Exception:
        return []
