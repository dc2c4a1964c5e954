"""Shared fixtures: a real Redis started by the tests, a real worker process, sample images.

Redis is the embedded one labeler itself starts (unix socket under a temporary LABELER_HOME),
started once per test run; each test that asks for `store` gets an empty database.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

import numpy as np
import pytest
import redis
from PIL import Image

from labeler.bundle import load_bundle
from labeler.redis_server import connect, ensure_redis, server_binary, stop_redis
from labeler.settings import DEFAULT_BUNDLE
from labeler.store import Fleet, JobStore
from tests.waiting import answers, wait_until

REPO = Path(__file__).resolve().parent.parent
# The shipped model's classes: jobs made by hand for the test worker must name them.
SHIPPED_CLASSES = load_bundle(DEFAULT_BUNDLE).classes
CIFAR_TEST = REPO.parent / "shared" / "datasets" / "cifar10-jpeg" / "test.tar.gz"


@pytest.fixture(scope="package")
def labeler_home():
    # Short, so the unix socket path stays under the kernel's 108-byte limit.
    home = Path(tempfile.mkdtemp(prefix="lbt-", dir="/tmp"))
    yield home
    stop_redis(home)
    shutil.rmtree(home, ignore_errors=True)


@pytest.fixture(scope="package")
def redis_url(labeler_home):
    return ensure_redis(labeler_home)


@pytest.fixture
def store(redis_url):
    client = connect(redis_url)
    client.flushdb()
    return JobStore(client, ttl=3600)


@pytest.fixture(scope="package")
def bundle():
    return load_bundle(DEFAULT_BUNDLE)


def cli_env(labeler_home: Path, redis_url: str | None = None, **extra: str) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith("LABELER_")}
    env["LABELER_HOME"] = str(labeler_home)
    if redis_url:
        env["LABELER_REDIS_URL"] = redis_url
    env.update(extra)
    return env


def run_cli(args: list[str], env: dict, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "labeler.cli.main", *args], env=env, capture_output=True,
        text=True, timeout=timeout, stdin=subprocess.DEVNULL,
    )


def start_worker(env: dict, *args: str) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "labeler.cli.main", "worker", "--concurrency", "1", *args],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        start_new_session=True,
    )


def wait_for_workers(store: JobStore, count: int = 1, timeout: float = 60) -> list[dict]:
    """The workers online on `store`'s Redis, once there are `count` of them."""
    fleet = Fleet(store.redis)
    return wait_until(lambda: len(fleet.workers()) >= count and fleet.workers(), timeout,
                      f"{count} worker(s) online")


def stop_process(proc: subprocess.Popen, sig: int = signal.SIGTERM, timeout: float = 30) -> str:
    if proc.poll() is None:
        os.killpg(proc.pid, sig)
    try:
        out, _ = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        out, _ = proc.communicate()
    return out or ""


@pytest.fixture
def worker(labeler_home, redis_url, store):
    """A real `labeler worker` process on the test Redis, stopped after the test."""
    proc = start_worker(cli_env(labeler_home, redis_url))
    try:
        wait_for_workers(store)
        yield proc
    finally:
        stop_process(proc)


def write_image(path: Path, seed: int, size=(32, 32), fmt: str | None = None, mode="RGB") -> Path:
    rng = np.random.default_rng(seed)
    pixels = rng.integers(0, 256, (size[1], size[0], 3), dtype=np.uint8)
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(pixels, "RGB").convert(mode).save(path, format=fmt)
    return path


def cifar_test_images(folder: Path, count: int) -> None:
    """`count` CIFAR-10 test JPEGs, as many of each class, in class folders (the sample
    images, copied under other names, where the dataset is not beside the checkout)."""
    if not CIFAR_TEST.is_file():
        samples = sorted((REPO / "examples" / "images").rglob("*.jpg"))
        for n in range(count):
            source = samples[n % len(samples)]
            target = folder / source.parent.name / f"{n:04d}.jpg"
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(source, target)
        return
    per_class: dict[str, int] = {}
    with tarfile.open(CIFAR_TEST) as tar:
        for member in tar:
            parts = Path(member.name).parts
            if not member.isfile() or len(parts) < 2:
                continue
            label = parts[-2]
            if per_class.get(label, 0) >= count // 10:
                continue
            per_class[label] = per_class.get(label, 0) + 1
            target = folder / label / parts[-1]
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(tar.extractfile(member).read())
            if sum(per_class.values()) == count:
                return


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def acl_redis(tmp_path):
    """A TCP Redis on loopback with the default user off and user labeler / s3cret-pass."""
    port = _free_port()
    conf = tmp_path / "redis.conf"
    conf.write_text("\n".join([
        f"port {port}", "bind 127.0.0.1", "protected-mode yes", f"dir {tmp_path}",
        "user default off", "user labeler on >s3cret-pass ~* &* +@all", "",
    ]))
    server = subprocess.Popen([server_binary(), str(conf)], stdout=subprocess.DEVNULL)
    client = redis.Redis(port=port, username="labeler", password="s3cret-pass")
    wait_until(lambda: answers(client.ping, (redis.ConnectionError,)), 10, "the ACL Redis")
    client.close()
    yield port
    server.terminate()
    server.wait()


TRAIN_TESTS = Path(__file__).resolve().parent / "train"


def pytest_ignore_collect(collection_path: Path, config: pytest.Config) -> bool | None:
    """On the base install (no [train] extra), `pytest -m "not train"` still collects: the
    modules of tests/train/ import TensorFlow, Keras or ONNX, and every test in them is marked
    train. Without such a -m they are collected, and fail loudly where the extra is missing."""
    excludes_train = "not train" in (config.getoption("markexpr") or "")
    if excludes_train and TRAIN_TESTS in (collection_path, *collection_path.parents):
        return True
    return None


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if TRAIN_TESTS in item.path.parents:
            item.add_marker(pytest.mark.train)
