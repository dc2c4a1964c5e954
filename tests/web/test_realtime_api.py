"""`POST /api/label` on a real server: the same record a job row has, bad images named,
limits and the change header."""

from __future__ import annotations

import json
import os
import signal
from concurrent.futures import ThreadPoolExecutor

from tests.waiting import wait_until
from tests.web.conftest import http, multipart, start_server, stop_server
from tests.web.test_web_api import HEADERS, sample_files, upload


def _label(web, body: bytes, content_type: str, **headers: str) -> tuple[int, dict]:
    status, raw = http(web.url + "/api/label", body,
                       {**HEADERS, "Content-Type": content_type, **headers})
    return status, json.loads(raw)


def test_one_image_in_the_body_gets_the_record_its_job_row_has(web):
    name, data = sample_files(1)[0]
    status, body = _label(web, data, "image/jpeg", **{"X-Filename": name})
    assert status == 200
    [record] = body["results"]
    status, job = upload(web, [(name, data)])
    web.wait_done(job["job"])
    [row] = web.get_json(f"/api/jobs/{job['job']}/items")["items"]
    same = ("path", "label", "confidence", "margin", "top_k", "model", "error")
    assert {k: record[k] for k in same} == {k: row[k] for k in same}


def test_several_files_with_a_bad_one_and_the_limits(web):
    files = [*sample_files(3), ("notes.txt", b"not an image")]
    body, content_type = multipart(files)
    status, reply = _label(web, body, content_type)
    assert status == 200 and [r["path"] for r in reply["results"]] == [f for f, _ in files]
    assert all(r["label"] for r in reply["results"][:3])
    assert reply["results"][3]["error"].startswith("not-an-image")

    body, content_type = multipart(sample_files(1) * 17)
    assert _label(web, body, content_type)[0] == 413
    assert _label(web, b"", "image/jpeg")[0] == 422
    status, _ = http(web.url + "/api/label", sample_files(1)[0][1],
                     {"Content-Type": "image/jpeg"})
    assert status == 403  # without X-Labeler: no other site's page may post it


def test_several_server_processes_share_the_port_and_stop_together():
    server = start_server("--processes", "2", "--no-spawn")
    try:
        group = os.getpgid(server.process.pid)
        members = [p for p in os.listdir("/proc") if p.isdigit() and _group_of(int(p)) == group]
        assert len(members) == 3  # the supervisor and two server processes
        name, data = sample_files(1)[0]

        def label(_):
            status, raw = http(server.url + "/api/label", data,
                               {**HEADERS, "Content-Type": "image/jpeg", "X-Filename": name})
            return status, json.loads(raw)["results"][0]["label"]

        with ThreadPoolExecutor(8) as pool:
            answers = list(pool.map(label, range(40)))
        assert set(answers) == {(200, answers[0][1])}
        server.process.send_signal(signal.SIGTERM)
        assert server.process.wait(30) == 0
        wait_until(lambda: not any(_group_of(int(p)) == group for p in os.listdir("/proc")
                                   if p.isdigit()), 30, "the server processes to exit")
    finally:
        stop_server(server)


def _group_of(pid: int) -> int | None:
    try:
        return os.getpgid(pid)
    except (ProcessLookupError, PermissionError):
        return None
