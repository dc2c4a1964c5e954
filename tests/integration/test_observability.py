"""What operators watch, against real processes: Flower (the real program) sees the workers
and the job's tasks through Celery's events, and the Prometheus endpoints of `labeler serve`
and of a worker parse and agree with `labeler status`."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import urllib.request

import pytest
from flower.events import Events as FlowerEvents
from prometheus_client.parser import text_string_to_metric_families

from labeler.broker import configure
from labeler.protocol import TASK_NAME
from labeler.redis_server import kombu_url
from labeler.store import Fleet
from tests.conftest import (
    REPO,
    _free_port,
    cli_env,
    run_cli,
    start_worker,
    stop_process,
    wait_for_workers,
)
from tests.waiting import answers, wait_until

IMAGES = REPO / "examples" / "images"


def _get(url: str, timeout: float = 10) -> bytes:
    with urllib.request.urlopen(url, timeout=timeout) as response:
        return response.read()


def _wait_for(url: str, process: subprocess.Popen, timeout: float = 60) -> None:
    def up() -> bool:
        assert process.poll() is None, process.stdout.read()
        return answers(lambda: _get(url, timeout=2))

    wait_until(up, timeout, f"{url} to answer", interval=0.2)


def _samples(text: bytes) -> dict[tuple[str, tuple], float]:
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(text.decode())
            for s in family.samples}


def _submit_and_wait(env) -> dict:
    proc = run_cli(["submit", str(IMAGES), "--wait", "--json", "--no-spawn"], env)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout.splitlines()[-1])


@pytest.fixture
def monitored_worker(labeler_home, redis_url, store):
    port = _free_port()
    proc = start_worker(cli_env(labeler_home, redis_url), "--metrics-port", str(port))
    try:
        _wait_for(f"http://127.0.0.1:{port}/metrics", proc)
        wait_for_workers(store)
        yield port
    finally:
        stop_process(proc)


def test_flower_lists_the_worker_and_counts_the_jobs_tasks(
        labeler_home, redis_url, store, monitored_worker):
    port = _free_port()
    flower = subprocess.Popen(
        [sys.executable, "-m", "celery", "--broker", kombu_url(redis_url), "flower",
         "--address=127.0.0.1", f"--port={port}"],
        env={**os.environ, "FLOWER_UNAUTHENTICATED_API": "true"},
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True)
    try:
        base = f"http://127.0.0.1:{port}"
        _wait_for(f"{base}/healthcheck", flower)
        # Workers send task events from when a monitor asks (LABELER_TASK_EVENTS=auto); Flower
        # asks every `events_enable_interval` ms. A probe task for no job (the worker skips it)
        # is sent until Flower has seen one: from then on every task's events reach it.
        queue = wait_for_workers(store)[0]["queue"]
        app = configure(redis_url)

        def flower_saw_a_probe() -> bool:
            app.send_task(TASK_NAME, args=["events-probe", 0, []], queue=queue)
            tasks = json.loads(_get(f"{base}/api/tasks"))
            return any("events-probe" in (t["args"] or "") for t in tasks.values())

        wait_until(flower_saw_a_probe, FlowerEvents.events_enable_interval / 1000 + 30,
                   "Flower to receive task events", interval=1)
        job = _submit_and_wait(cli_env(labeler_home, redis_url))
        chunks = int(store.progress(job["job"]).record["chunks"])

        def jobs_chunks_succeeded() -> list[dict]:
            tasks = json.loads(_get(f"{base}/api/tasks"))
            succeeded = [t for t in tasks.values() if t["state"] == "SUCCESS"
                         and t["name"] == TASK_NAME and job["job"] in (t["args"] or "")]
            return succeeded if len(succeeded) >= chunks else []

        succeeded = wait_until(jobs_chunks_succeeded, 30, "Flower to count every chunk",
                               interval=0.5)
        workers = wait_until(lambda: json.loads(_get(f"{base}/api/workers?refresh=1")), 30,
                             "Flower to list the worker", interval=0.5)
        assert len(succeeded) == chunks and job["labelled"] == 40
        # A chunk shows as its job, index and size, not as a long list of paths.
        assert all(t["args"].startswith(f"('{job['job']}', ") and " images from " in t["args"]
                   for t in succeeded)
        assert [w["name"] for w in Fleet(store.redis).workers()] == list(workers)
        metrics = _samples(_get(f"{base}/metrics"))
        events = sum(v for (name, labels), v in metrics.items()
                     if name == "flower_events_total" and ("type", "task-succeeded") in labels)
        assert events >= chunks
    finally:
        stop_process(flower)


def test_prometheus_counters_of_serve_and_worker_match_status(
        labeler_home, redis_url, store, monitored_worker):
    env = cli_env(labeler_home, redis_url)
    job = _submit_and_wait(env)
    status = json.loads(run_cli(["status", job["job"], "--json"], env).stdout)
    port = _free_port()
    serve = subprocess.Popen(
        [sys.executable, "-m", "labeler.cli.main", "serve", "--port", str(port)], env=env,
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True)
    try:
        _wait_for(f"http://127.0.0.1:{port}/api/health", serve)
        fleet = _samples(_get(f"http://127.0.0.1:{port}/metrics"))
    finally:
        stop_process(serve)
    labelled = {dict(labels)["model"]: v for (name, labels), v in fleet.items()
                if name == "labeler_images_labelled_total"}
    assert sum(labelled.values()) == status["labelled"] == 40
    assert all(model.startswith("cifar10-whitened-kd:") for model in labelled)
    assert fleet[("labeler_job_images", (("job", job["job"]), ("state", "labelled")))] == 40
    assert fleet[("labeler_job_images", (("job", job["job"]), ("state", "pending")))] == 0
    assert fleet[("labeler_workers_online", ())] == 1
    queue = store.progress(job["job"]).record["queue"]
    assert fleet[("labeler_queue_depth", (("queue", queue),))] == 0

    worker = _samples(_get(f"http://127.0.0.1:{monitored_worker}/metrics"))
    own = sum(v for (name, _), v in worker.items()
              if name == "labeler_worker_images_labelled_total")
    chunks = int(store.progress(job["job"]).record["chunks"])
    assert own == 40
    for stage in ("decode", "inference", "write"):
        key = ("labeler_worker_chunk_stage_seconds_count", (("stage", stage),))
        assert worker[key] == chunks
