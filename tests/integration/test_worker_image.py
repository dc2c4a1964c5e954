"""The CPU worker image, built and run for real: a Debian base made with debootstrap, the image
built offline from a wheelhouse with podman, its filesystem mounted and its entrypoint started
under chroot (as `podman run` cannot start containers on this kind of host) against a
password-protected Redis on the host, labelling 200 images sent inline.

Slow (a base system, wheels and a build: about three minutes the first time); needs root, and
podman and debootstrap (tests/install-tools.sh installs them)."""

from __future__ import annotations

import csv
import json
import os
import shlex
import shutil
import subprocess
import threading
import time
from pathlib import Path

import pytest

from labeler.redis_server import connect
from labeler.store import JobStore
from tests.conftest import (
    REPO,
    cifar_test_images,
    cli_env,
    run_cli,
    start_worker,
    stop_process,
    wait_for_workers,
)
from tests.waiting import wait_until

pytestmark = pytest.mark.slow

BASE = "localhost/labeler-test-base:bookworm"
IMAGE = "localhost/labeler-worker:test"
IMAGES = 200
# 416 MiB measured (2026-12-08): 366 before the bucket reader, whose botocore (31 MB of service
# models) and aiohttp make the rest; a jump past this is a dependency to look at.
SIZE_LIMIT = 440 * 2**20
USER_ID = 10001


def sh(*args: str, timeout: float = 900, **kwargs) -> str:
    done = subprocess.run(args, capture_output=True, text=True, timeout=timeout, **kwargs)
    assert done.returncode == 0, f"{shlex.join(args)}: {done.stdout[-2000:]}{done.stderr[-3000:]}"
    return done.stdout


def _tools() -> None:
    if os.geteuid() != 0:
        pytest.fail("the worker image test needs root (podman storage, chroot, mounts)")
    for tool in ("podman", "debootstrap"):
        if not shutil.which(tool) and not Path(f"/usr/sbin/{tool}").exists():
            pytest.fail(f"no {tool}: run tests/install-tools.sh")


def _base_image(work: Path) -> None:
    """Debian 12 with python3 and its venv module (what the official Python image offers),
    kept in podman's storage between runs; trimmed as the slim images are."""
    if subprocess.run(["podman", "image", "exists", BASE]).returncode == 0:
        return
    root = work / "rootfs"
    sh("debootstrap", "--variant=minbase", "--include=python3,python3-venv", "bookworm",
       str(root))
    for junk in ("var/cache/apt/archives", "var/lib/apt/lists", "usr/share/doc",
                 "usr/share/locale", "usr/share/man"):
        shutil.rmtree(root / junk, ignore_errors=True)
    tar = subprocess.Popen(["tar", "-C", str(root), "-c", "."], stdout=subprocess.PIPE)
    sh("podman", "import", "-", BASE, stdin=tar.stdout)
    tar.wait()
    shutil.rmtree(root, ignore_errors=True)


def _python_version() -> str:
    """The base's exact Python version: the wheelhouse is downloaded for it."""
    script = "import platform; print(platform.python_version())"
    return _in_image(BASE, ["python3", "-c", script]).strip()


def _in_image(image: str, argv: list[str]) -> str:
    mount = sh("podman", "image", "mount", image).strip()
    try:
        return sh("chroot", mount, *argv)
    finally:
        subprocess.run(["podman", "image", "unmount", image], capture_output=True)


@pytest.fixture(scope="module")
def image(tmp_path_factory):
    _tools()
    work = tmp_path_factory.mktemp("image")
    started = time.monotonic()
    _base_image(work)
    before = _image_ids()
    sh("sh", "deploy/wheelhouse.sh", "cpu", _python_version(), cwd=REPO)
    sh("podman", "build", "--format", "docker", "--isolation", "chroot", "--no-cache",
       "-f", "deploy/worker.Dockerfile", "--build-arg", f"BASE={BASE}",
       "--build-arg", "OFFLINE=1", "-t", IMAGE, ".", cwd=REPO)
    config = json.loads(sh("podman", "image", "inspect", IMAGE))[0]
    print(f"\nCPU worker image: {config['Size'] / 2**20:.0f} MiB, base and build in "
          f"{time.monotonic() - started:.0f} s")
    yield config
    # The image and the unnamed build stage it was copied from; the base stays, as a cache.
    made = _image_ids() - before
    subprocess.run(["podman", "rmi", "-f", IMAGE, *made], capture_output=True)
    assert not _image_ids() - before, "the image build left images behind"


def _image_ids() -> set[str]:
    return set(sh("podman", "images", "--all", "--no-trunc", "--quiet").split())


@pytest.fixture
def image_root(image):
    """The image's filesystem, mounted, with /proc, /dev (and /dev/shm) and /tmp bound in."""
    mount = Path(sh("podman", "image", "mount", IMAGE).strip())
    bound = []
    try:
        for path, how in (("proc", "--bind"), ("dev", "--rbind"), ("tmp", "--bind")):
            sh("mount", how, f"/{path}", str(mount / path))
            bound.append(mount / path)
        yield mount
    finally:
        for path in reversed(bound):
            subprocess.run(["umount", "-R", str(path)], capture_output=True)
        subprocess.run(["podman", "image", "unmount", IMAGE], capture_output=True)


def _image_env(config: dict, redis_url: str) -> dict:
    """The environment the image sets, as a container runtime would give it."""
    env = dict(item.split("=", 1) for item in config["Env"])
    return {**env, "HOME": f"/home/{config['User']}", "LABELER_REDIS_URL": redis_url}


def _as_image_user(root: Path, argv: list[str]) -> list[str]:
    return ["chroot", f"--userspec={USER_ID}:{USER_ID}", str(root), *argv]


def _uid(pid: int) -> int:
    status = Path(f"/proc/{pid}/status").read_text()
    return int(next(line for line in status.splitlines() if line.startswith("Uid:")).split()[1])


def _labels(csv_path: Path) -> dict[str, str]:
    with csv_path.open() as fh:
        return {row["path"]: row["label"] for row in csv.DictReader(fh)}


def test_the_cpu_image_labels_like_a_host_worker(image, image_root, acl_redis, tmp_path):
    config = image["Config"]
    assert image["Size"] <= SIZE_LIMIT, f"image is {image['Size'] / 2**20:.0f} MiB"
    assert config["User"] == "labeler" and config["Entrypoint"] == ["labeler", "worker"]
    assert sh("chroot", str(image_root), "id", "-u", "labeler").strip() == str(USER_ID)
    installed = sh("chroot", str(image_root), "sh", "-c",
                   "ls /opt/labeler/lib/*/site-packages").lower()
    assert "onnxruntime" in installed and "tensorflow" not in installed
    assert "onnxruntime_gpu" not in installed

    redis_url = f"redis://labeler:s3cret-pass@127.0.0.1:{acl_redis}/0"
    env = _image_env(config, redis_url)
    # podman's inspect puts the Docker-format health check beside the OCI config.
    health = (image.get("Healthcheck") or image.get("HealthCheck")
              or config.get("Healthcheck"))["Test"]
    assert health[0] == "CMD-SHELL"
    checked = subprocess.run(_as_image_user(image_root, ["sh", "-c", health[1]]),
                             env=env, capture_output=True, text=True, timeout=120)
    assert checked.returncode == 0, checked.stdout + checked.stderr

    store = JobStore(connect(redis_url), ttl=3600)
    started = time.monotonic()
    worker = subprocess.Popen(
        _as_image_user(image_root, [*config["Entrypoint"], "--concurrency", "1"]),
        env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        start_new_session=True)
    lines: list[tuple[float, str]] = []
    reader = threading.Thread(target=lambda: lines.extend(
        (time.monotonic(), line) for line in worker.stdout), daemon=True)
    reader.start()
    try:
        wait_for_workers(store, timeout=120)
        online = time.monotonic() - started
        ready = _when(lines, "ready: model", timeout=120) - started
        print(f"image worker online in Redis {online:.1f} s, model loaded {ready:.1f} s "
              "after start")
        assert _uid(worker.pid) == USER_ID
        children = subprocess.run(["pgrep", "-P", str(worker.pid)], capture_output=True,
                                  text=True).stdout.split()
        assert children and all(_uid(int(pid)) == USER_ID for pid in children)
        images = tmp_path / "images"
        cifar_test_images(images, IMAGES)
        host = cli_env(tmp_path / "home", redis_url)
        from_image = _submit(images, tmp_path / "image.csv", host)
    finally:
        stop_process(worker)
        reader.join(timeout=10)
    assert len(from_image) == IMAGES, "".join(line for _t, line in lines)[-3000:]

    local = start_worker(host)
    try:
        wait_for_workers(store, timeout=120)
        from_host = _submit(images, tmp_path / "host.csv", host)
    finally:
        stop_process(local)
    assert from_image == from_host


def _when(lines: list[tuple[float, str]], text: str, timeout: float) -> float:
    found = wait_until(lambda: [t for t, line in list(lines) if text in line], timeout,
                       lambda: f"the worker to log {text!r}: {''.join(x for _t, x in lines)}")
    return found[0]


def _submit(images: Path, out: Path, env: dict) -> dict[str, str]:
    done = run_cli(["submit", str(images), "--inline", "--no-spawn", "--wait", "-o", str(out)],
                   env, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    return _labels(out)
