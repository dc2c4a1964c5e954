"""A real `labeler serve` process on a fresh LABELER_HOME: embedded Redis, spawned workers."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import tempfile
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import pytest

from labeler.redis_server import stop_redis
from tests.conftest import _free_port, cli_env, stop_process
from tests.waiting import wait_until


@dataclass
class WebServer:
    url: str
    home: Path
    process: subprocess.Popen

    def get(self, path: str, **headers: str) -> tuple[int, bytes]:
        return http(self.url + path, headers=headers)

    def get_json(self, path: str):
        status, body = self.get(path)
        assert status == 200, body
        return json.loads(body)

    def wait_done(self, job: str, timeout: float = 120) -> dict:
        def done() -> dict | None:
            progress = self.get_json(f"/api/jobs/{job}")
            return progress if progress["state"] == "done" else None

        return wait_until(done, timeout, lambda: f"job {job}: {self.get_json(f'/api/jobs/{job}')}",
                          interval=0.3)


def http(url: str, data: bytes | None = None, headers: dict | None = None,
         method: str | None = None) -> tuple[int, bytes]:
    request = urllib.request.Request(url, data=data, headers=headers or {}, method=method)
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


def multipart(files: list[tuple[str, bytes]], **fields: str) -> tuple[bytes, str]:
    boundary = "labeler-test-boundary"
    parts = []
    for name, value in fields.items():
        parts.append(f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n'
                     f"{value}\r\n".encode())
    for filename, data in files:
        parts.append(f'--{boundary}\r\nContent-Disposition: form-data; name="files"; '
                     f'filename="{filename}"\r\nContent-Type: application/octet-stream\r\n\r\n'
                     .encode() + data + b"\r\n")
    parts.append(f"--{boundary}--\r\n".encode())
    return b"".join(parts), f"multipart/form-data; boundary={boundary}"


def start_server(*args: str, port: int | None = None, **env_extra: str) -> WebServer:
    """With sign-in on, give LABELER_WEB_TOKEN: the start-up probe sends it."""
    home = Path(tempfile.mkdtemp(prefix="lbw-", dir="/tmp"))
    port = port or _free_port()
    env = cli_env(home, LABELER_WORKER_IDLE_EXIT="5", **env_extra)
    probe = {"Authorization": f"Bearer {env_extra['LABELER_WEB_TOKEN']}"} if (
        "LABELER_WEB_TOKEN" in env_extra) else {}
    process = subprocess.Popen(
        [sys.executable, "-m", "labeler.cli.main", "serve", "--port", str(port), *args],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        start_new_session=True)
    server = WebServer(f"http://127.0.0.1:{port}", home, process)

    def healthy() -> bool:
        if process.poll() is not None:
            raise RuntimeError(f"labeler serve exited: {process.stdout.read()}")
        try:
            return server.get("/api/health", **probe)[0] == 200
        except OSError:
            return False

    wait_until(healthy, 60, "labeler serve to answer", interval=0.2)
    return server


def stop_server(server: WebServer) -> None:
    stop_process(server.process)
    stop_redis(server.home)  # the spawned workers leave when their Redis goes
    shutil.rmtree(server.home, ignore_errors=True)


@pytest.fixture(scope="module")
def web():
    server = start_server("--max-files", "50", "--max-upload-mb", "4")
    yield server
    stop_server(server)


CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                 "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync"]


def chromium_path() -> str:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        if found := shutil.which(name):
            return found
    pytest.fail("no Chromium: install Debian's (apt-get install chromium) or run "
                "tests/install-tools.sh")


@pytest.fixture
def page():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium_path(),
                                             args=CHROMIUM_ARGS)
        context = browser.new_context(accept_downloads=True,
                                      viewport={"width": 1200, "height": 900})
        yield context.new_page()
        browser.close()
