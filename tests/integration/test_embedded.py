"""The embedded default: no LABELER_REDIS_URL, a fresh LABELER_HOME; `labeler submit` starts
Redis and a local worker by itself, and the worker leaves when idle."""

import json
import shutil
import tempfile
from pathlib import Path

from labeler.processes import group_members, wait_for_exit
from labeler.redis_server import connect, embedded_redis_pid, ensure_redis, stop_redis
from labeler.store import Fleet, JobStore
from tests.conftest import REPO, cli_env, run_cli, start_worker, stop_process, wait_for_workers
from tests.waiting import wait_until


def test_submit_starts_redis_and_a_worker_and_labels_the_examples():
    home = Path(tempfile.mkdtemp(prefix="lbe-", dir="/tmp"))
    try:
        env = cli_env(home, LABELER_WORKER_IDLE_EXIT="3")
        proc = run_cli(["submit", str(REPO / "examples" / "images"), "--wait", "--json",
                        "--timeout", "120"], env, timeout=180)
        assert proc.returncode == 0, proc.stderr
        summary = json.loads(proc.stdout.strip().splitlines()[-1])
        assert (summary["total"], summary["labelled"], summary["failed"]) == (40, 40, 0)
        store = JobStore(connect(f"unix://{home / 'redis' / 'redis.sock'}"))
        assert store.redis.config_get("appendonly") == {"appendonly": "yes"}
        assert store.redis.config_get("port") == {"port": "0"}  # no TCP listener
        fleet = Fleet(store.redis)
        wait_until(lambda: fleet.workers() == [], 60, "the spawned worker to exit when idle",
                   interval=0.5)
    finally:
        stop_redis(home)
        shutil.rmtree(home, ignore_errors=True)


def test_a_local_worker_that_cannot_start_is_reported_not_waited_for(bundle, tmp_path):
    home = Path(tempfile.mkdtemp(prefix="lbe-", dir="/tmp"))
    broken = tmp_path / "bundle"
    shutil.copytree(bundle.path, broken)
    for name in ("model.onnx", "model.fp16.onnx", "model.int8.onnx"):
        with open(broken / name, "ab") as fh:
            fh.write(b"\0")
    try:
        proc = run_cli(["submit", str(REPO / "examples" / "images"), "--model", str(broken),
                        "--wait", "--timeout", "60"], cli_env(home), timeout=120)
        assert proc.returncode == 1
        assert "local worker failed" in proc.stderr and "SHA-256" in proc.stderr
    finally:
        stop_redis(home)
        shutil.rmtree(home, ignore_errors=True)


def test_a_local_worker_leaves_when_its_embedded_redis_is_stopped():
    home = Path(tempfile.mkdtemp(prefix="lbe-", dir="/tmp"))
    try:
        url = ensure_redis(home)
        worker = start_worker(cli_env(home, url), "--idle-exit", "3")
        wait_for_workers(JobStore(connect(url)))
        stop_redis(home)
        # Not before 30 s (a Redis restart must not empty the pool), but not never.
        try:
            log, _ = worker.communicate(timeout=90)
        finally:
            stop_process(worker)
        assert worker.returncode == 0 and "Redis unreachable" in log
    finally:
        stop_redis(home)
        shutil.rmtree(home, ignore_errors=True)


def test_stop_ends_the_workers_and_the_redis_it_started():
    home = Path(tempfile.mkdtemp(prefix="lbe-", dir="/tmp"))
    try:
        env = cli_env(home)  # spawned workers would otherwise stay for 5 idle minutes
        proc = run_cli(["submit", str(REPO / "examples" / "images"), "--wait", "--json"], env,
                       timeout=180)
        assert proc.returncode == 0, proc.stderr
        store = JobStore(connect(f"unix://{home / 'redis' / 'redis.sock'}"))
        pids = [w["pid"] for w in Fleet(store.redis).workers()]
        assert pids, "submit should have left its spawned worker running"
        # Its pool processes and Redis too: stop returns once every one of them has exited.
        family = [*pids, *(member for pid in pids for member in group_members(pid))]
        assert len(family) > len(pids), "a worker runs pool processes"
        redis_pid = embedded_redis_pid(home)
        stopped = run_cli(["stop"], env, timeout=120)
        assert stopped.returncode == 0, stopped.stderr
        assert f"worker {pids[0]} stopped" in stopped.stdout and "shut down" in stopped.stdout
        assert wait_for_exit([*family, redis_pid], timeout=0) == [], stopped.stdout
        assert not (home / "redis" / "redis.sock").exists() or not _answers(home)
        # Nothing was lost: the next command starts Redis again from its append-only file.
        again = run_cli(["status", "--json"], env)
        assert json.loads(again.stdout)["jobs"][0]["labelled"] == 40
        assert run_cli(["stop"], env).stdout.startswith("Redis under")  # no workers this time
        assert run_cli(["stop"], env).stdout.strip() == "nothing running for this LABELER_HOME"
    finally:
        stop_redis(home)
        shutil.rmtree(home, ignore_errors=True)


def _answers(home: Path) -> bool:
    from labeler.redis_server import embedded_redis_running

    return embedded_redis_running(home)
