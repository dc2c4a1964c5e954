"""A worker that cannot see the images (its own mount namespace hides the folder) labels a job
submitted here, through a password-protected Redis reached by URL, with inline transport."""

import json
import os
import signal
import subprocess
import sys

from labeler.redis_server import connect
from labeler.store import JobStore
from tests.conftest import cli_env, run_cli, wait_for_workers, write_image


def test_a_worker_in_another_mount_namespace_labels_inline_images(acl_redis, labeler_home,
                                                                  tmp_path):
    url = f"redis://labeler:s3cret-pass@127.0.0.1:{acl_redis}/0"
    hidden = tmp_path / "shared"
    for i in range(20):
        write_image(hidden / "photos" / f"{i}.jpg", seed=i)
    worker_home = tmp_path / "worker-home"
    worker_home.mkdir()
    env = cli_env(worker_home, url)
    # The worker sees an empty tmpfs where the submitting side has its photos.
    command = (f"mount -t tmpfs none {hidden} && exec {sys.executable} -m labeler.cli.main "
               "worker --concurrency 1")
    worker = subprocess.Popen(["unshare", "--mount", "--propagation", "private", "sh", "-c",
                               command], env=env, cwd=worker_home, start_new_session=True,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_for_workers(JobStore(connect(url)))
        submit_env = cli_env(labeler_home, url)
        by_path = run_cli(["submit", str(hidden / "photos"), "--wait", "--json"], submit_env)
        summary = json.loads(by_path.stdout.splitlines()[-1])
        assert by_path.returncode == 3 and summary["failed"] == 20  # it cannot see them...
        inline = run_cli(["submit", str(hidden / "photos"), "--inline", "--wait", "--json"],
                         submit_env)
        summary = json.loads(inline.stdout.splitlines()[-1])
        assert inline.returncode == 0 and summary["labelled"] == 20  # ...but labels bytes
    finally:
        os.killpg(worker.pid, signal.SIGTERM)
        worker.wait(timeout=30)
