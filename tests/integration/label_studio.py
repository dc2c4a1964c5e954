"""A real Label Studio for the tests: installed from locks/label-studio.txt into a venv of its
own (kept under ~/.cache between runs, rebuilt when the lock changes or it fails to start),
started on loopback with a known user and API token, and spoken to through its REST API as a
user's scripts would."""

from __future__ import annotations

import json
import os
import subprocess
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from tests.conftest import _free_port
from tests.pinned_tools import LABEL_STUDIO, ToolFailed
from tests.waiting import answers, wait_until

EMAIL, PASSWORD, TOKEN = "reviewer@example.com", "review-pass-1", "labeler-test-token-1"


@dataclass
class LabelStudio:
    url: str
    process: subprocess.Popen
    log: Path

    def call(self, method: str, path: str, body=None):
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(
            self.url + path, data=data, method=method,
            headers={"Authorization": f"Token {TOKEN}", "Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(request, timeout=120) as response:
                text = response.read()
        except urllib.error.HTTPError as exc:
            raise AssertionError(f"{method} {path}: {exc.code} {exc.read()[:500]!r}") from None
        return json.loads(text) if text else None

    def create_project(self, title: str, config: str) -> int:
        return self.call("POST", "/api/projects", {"title": title, "label_config": config})["id"]

    def add_local_storage(self, project: int, folder: Path) -> None:
        """Label Studio serves /data/local-files/ only under a local storage of the project."""
        self.call("POST", "/api/storages/localfiles",
                  {"project": project, "path": str(folder), "title": folder.name,
                   "use_blob_urls": True})

    def import_tasks(self, project: int, tasks: list) -> dict:
        return self.call("POST", f"/api/projects/{project}/import", tasks)

    def tasks(self, project: int) -> list[dict]:
        return self.call("GET", f"/api/tasks?project={project}&page_size=10000&fields=all")["tasks"]

    def annotate(self, task: int, label: str) -> None:
        self.call("POST", f"/api/tasks/{task}/annotations", {"lead_time": 1.5, "result": [
            {"from_name": "choice", "to_name": "image", "type": "choices",
             "value": {"choices": [label]}}]})

    def export(self, project: int) -> list[dict]:
        return self.call("GET", f"/api/projects/{project}/export?exportType=JSON"
                                "&download_all_tasks=true")


def start(data_dir: Path, document_root: Path) -> LabelStudio:
    """Label Studio on a free port, answering its API. A cached install that does not start
    is built again once from the lock before giving up."""
    try:
        return _start(data_dir, document_root, LABEL_STUDIO.installed())
    except ToolFailed:
        if not LABEL_STUDIO.is_current():
            raise
    return _start(data_dir, document_root, LABEL_STUDIO.installed(rebuild=True))


def _start(data_dir: Path, document_root: Path, program: Path) -> LabelStudio:
    port = _free_port()
    env = {**os.environ, "LABEL_STUDIO_LOCAL_FILES_SERVING_ENABLED": "true",
           "LABEL_STUDIO_LOCAL_FILES_DOCUMENT_ROOT": str(document_root),
           "LATEST_VERSION_CHECK": "false", "COLLECT_ANALYTICS": "false",
           # labeler, its ML backend, listens on loopback next to it: Label Studio refuses
           # private and loopback addresses for ML backends unless told.
           "USE_DEFAULT_BANNED_SUBNETS": "false"}
    log = data_dir / "label-studio.log"
    with open(log, "w") as out:
        process = subprocess.Popen(
            [str(program), "start", "--no-browser", "--port", str(port),
             "--host", f"http://127.0.0.1:{port}", "--data-dir", str(data_dir),
             "--username", EMAIL, "--password", PASSWORD, "--user-token", TOKEN,
             "--enable-legacy-api-token"],
            env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    studio = LabelStudio(f"http://127.0.0.1:{port}", process, log)

    def started() -> bool:
        if process.poll() is not None:
            raise LABEL_STUDIO.failure(f"exited with status {process.returncode} at start", log)
        return answers(lambda: studio.call("GET", "/api/projects"), (OSError, AssertionError))

    try:  # the first start migrates its database
        wait_until(started, 300, "Label Studio to answer", interval=1)
    except TimeoutError:
        os.killpg(process.pid, 9)
        raise LABEL_STUDIO.failure("did not answer on its port within 300 s", log) from None
    return studio
