"""The JSON API under the page, against a real server, Redis and workers."""

from __future__ import annotations

import csv
import io
import json
import zipfile

import pyarrow.parquet as pq

from tests.conftest import REPO, cli_env, run_cli, write_image
from tests.web.conftest import http, multipart

EXAMPLES = REPO / "examples" / "images"
HEADERS = {"X-Labeler": "1"}


def upload(web, files, **fields) -> tuple[int, dict]:
    body, content_type = multipart(files, **fields)
    status, raw = http(web.url + "/api/jobs", body, {**HEADERS, "Content-Type": content_type})
    return status, json.loads(raw)


def sample_files(count: int) -> list[tuple[str, bytes]]:
    paths = sorted(EXAMPLES.glob("*/0000.jpg"))[:count]
    return [(f"{p.parent.name}/{p.name}", p.read_bytes()) for p in paths]


def test_upload_labels_every_image_and_names_the_bad_ones(web):
    files = [*sample_files(4), ("broken.jpg", b"\xff\xd8\xff not really a jpeg"),
             ("notes.txt", b"hello")]
    status, body = upload(web, files, top_k="2")
    assert status == 201, body
    assert body["total"] == 5 and list(body["skipped"]) == ["notes.txt"]
    done = web.wait_done(body["job"])
    assert (done["labelled"], done["failed"]) == (4, 1)

    items = web.get_json(f"/api/jobs/{body['job']}/items?sort=confidence")["items"]
    assert items[0]["path"] == "broken.jpg" and items[0]["error"].startswith("not-an-image")
    confidences = [i["confidence"] for i in items[1:]]
    assert confidences == sorted(confidences) and all(len(i["top_k"]) == 2 for i in items[1:])
    # Folder names from the upload are kept: they are the true classes of the examples.
    assert {i["path"].split("/")[0] for i in items[1:]} == {"airplane", "automobile", "bird",
                                                             "cat"}

    status, raw = web.get(f"/api/jobs/{body['job']}/results.csv")
    rows = list(csv.DictReader(io.StringIO(raw.decode())))
    assert status == 200 and len(rows) == 5
    assert {r["path"] for r in rows if r["error"]} == {"broken.jpg"}
    status, raw = web.get(f"/api/jobs/{body['job']}/results.parquet")
    table = pq.read_table(io.BytesIO(raw))
    assert status == 200 and table.column("path").to_pylist() == [r["path"] for r in rows]
    assert table.column("confidence").to_pylist() == [
        float(r["confidence"]) if r["confidence"] else None for r in rows]

    tasks = web.get_json(f"/api/jobs/{body['job']}/labelstudio.json")
    assert len(tasks) == 5
    labelled = [t for t in tasks if t["predictions"]]
    assert len(labelled) == 4
    choice = labelled[0]["predictions"][0]["result"][0]
    assert choice["type"] == "choices" and choice["to_name"] == "image"
    status, image = http(labelled[0]["data"]["image"])
    assert status == 200 and image[:2] == b"\xff\xd8"
    status, config = web.get(f"/api/jobs/{body['job']}/labelstudio-config.xml")
    assert b'<Choice value="airplane"/>' in config
    served_elsewhere = web.get_json(f"/api/jobs/{body['job']}/labelstudio.json"
                                    "?images=url-prefix:https://files.example/photos")
    assert served_elsewhere[1]["data"]["image"].startswith("https://files.example/photos/")
    assert web.get(f"/api/jobs/{body['job']}/labelstudio.json?images=ftp:x")[0] == 422
    outside = f"/api/jobs/{body['job']}/labelstudio.json?images=local-files:/nonexistent-root"
    assert web.get(outside)[0] == 422


def test_filters_for_label_and_needs_review(web):
    status, body = upload(web, sample_files(6))
    assert status == 201
    web.wait_done(body["job"])
    base = f"/api/jobs/{body['job']}/items"
    everything = web.get_json(base)
    some_label = everything["items"][0]["label"]
    only = web.get_json(f"{base}?label={some_label}")
    assert only["matched"] == everything["labels"][some_label]
    assert {i["label"] for i in only["items"]} == {some_label}
    threshold = sorted(i["confidence"] for i in everything["items"])[3]
    review = web.get_json(f"{base}?below={threshold}")
    assert review["matched"] == review["needs_review"] == 3
    assert all(i["confidence"] < threshold for i in review["items"])


def test_near_duplicates_of_an_upload_come_in_groups(web):
    photo = sample_files(1)[0]
    status, body = upload(web, [*sample_files(5), ("again/" + photo[0], photo[1])])
    assert status == 201
    web.wait_done(body["job"])
    found = web.get_json(f"/api/jobs/{body['job']}/duplicates")
    assert found["summary"].startswith("1 group of near-duplicates, 2 images, among 6")
    assert sorted(row["path"] for row in found["rows"]) == ["again/" + photo[0], photo[0]]
    assert all(isinstance(row["index"], int) for row in found["rows"])
    assert web.get("/api/jobs/no-such-job/duplicates")[0] == 404


def test_a_zip_is_unpacked_inside_the_upload_folder_only(web, tmp_path):
    archive = io.BytesIO()
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("cats/a.jpg", (EXAMPLES / "cat" / "0001.jpg").read_bytes())
        zf.writestr("../../escape.jpg", (EXAMPLES / "dog" / "0001.jpg").read_bytes())
        zf.writestr("/abs/b.png", write_image(tmp_path / "b.png", 1).read_bytes())
        zf.writestr("readme.md", b"not an image")
    status, body = upload(web, [("photos.zip", archive.getvalue())])
    assert status == 201, body
    web.wait_done(body["job"])
    paths = [i["path"] for i in web.get_json(f"/api/jobs/{body['job']}/items")["items"]]
    assert sorted(paths) == ["abs/b.png", "cats/a.jpg", "escape.jpg"]
    assert not list(web.home.parent.glob("escape.jpg"))
    assert all(p.is_relative_to(web.home) for p in web.home.rglob("*"))


def test_limits_and_cross_site_rules(web):
    status, body = upload(web, [(f"{n}.jpg", b"x") for n in range(51)])
    assert status in (400, 413, 422) and "51" not in body.get("job", "")
    # Two files under the 4 MiB cap each, over it together (the server counts while copying).
    big = [("big1.jpg", b"\xff" * (18 << 17)), ("big2.jpg", b"\xff" * (18 << 17))]
    status, body = upload(web, big)
    assert status == 413, body
    bomb = io.BytesIO()
    with zipfile.ZipFile(bomb, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("zeros.png", b"\0" * (8 << 20))
    status, body = upload(web, [("bomb.zip", bomb.getvalue())])
    assert status == 413 and "MiB" in body["detail"]
    # Nothing of a refused upload is kept.
    assert [p for p in (web.home / "uploads").rglob("*") if p.name in ("big1.jpg", "zeros.png")
            ] == []

    raw, content_type = multipart(sample_files(1))
    status, _ = http(web.url + "/api/jobs", raw, {"Content-Type": content_type})
    assert status == 403  # no X-Labeler header: what a cross-site form post looks like
    status, _ = web.get("/api/health", Host="attacker.example")
    assert status == 400  # DNS rebinding: a foreign Host name is refused


def test_images_are_served_only_for_items_of_the_job(web):
    status, body = upload(web, sample_files(1))
    web.wait_done(body["job"])
    job = body["job"]
    item = web.get_json(f"/api/jobs/{job}/items")["items"][0]["path"]
    status, data = web.get(f"/api/jobs/{job}/image?size=64&path={item}")
    assert status == 200 and data[:2] == b"\xff\xd8"
    for path in ("../../../etc/passwd", "/etc/hostname", "cat/0001.jpg"):
        assert web.get(f"/api/jobs/{job}/image?path={path}")[0] == 404
    assert web.get("/api/jobs/nope/items")[0] == 404


def test_readable_routes_answer_head_and_the_page_has_an_icon(web):
    status, body = upload(web, sample_files(1))
    job = body["job"]
    web.wait_done(job)
    item = web.get_json(f"/api/jobs/{job}/items")["items"][0]["path"]
    for path in ("/", f"/api/jobs/{job}/image?path={item}", f"/api/jobs/{job}/results.csv",
                 f"/api/jobs/{job}/labelstudio.json", "/favicon.ico"):
        status, data = http(web.url + path, method="HEAD")
        assert (status, data) == (200, b""), path
    status, icon = web.get("/favicon.ico")
    assert status == 200 and icon[:4] == b"\x89PNG"


def test_openapi_describes_the_api(web):
    spec = web.get_json("/openapi.json")
    assert {"/api/jobs", "/api/jobs/{job_id}", "/api/jobs/{job_id}/items",
            "/api/jobs/{job_id}/results.{fmt}", "/api/jobs/{job_id}/labelstudio.json"
            } <= set(spec["paths"])
    upload_body = spec["paths"]["/api/jobs"]["post"]["requestBody"]["content"]
    assert "multipart/form-data" in upload_body


def test_a_busy_port_is_one_line_not_a_traceback(web):
    port = web.url.rsplit(":", 1)[1]
    proc = run_cli(["serve", "--port", port], cli_env(web.home), timeout=60)
    assert proc.returncode == 1
    assert proc.stderr.strip().splitlines() == [
        f"Error: cannot listen on 127.0.0.1:{port} (Address already in use): "
        "choose another with --port"]
