"""`POST /api/label` on a real server: the same record a job row has, bad images named,
limits and the change header."""

from __future__ import annotations

import json

from tests.web.conftest import http, multipart
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
