"""Untrusted upload names and archives stay inside their folder and under their limits."""

from __future__ import annotations

import io
import zipfile
from xml.etree import ElementTree

import pytest

from labeler.labelstudio import ImageAddress, job_tasks, labelling_config
from labeler.protocol import Item, LabelResult
from labeler.web.queries import ItemQuery, select_items
from labeler.web.uploads import UploadLimits, UploadRefused, safe_relative_name, save_uploads


@pytest.mark.parametrize("name, expected", [
    ("cat.jpg", "cat.jpg"),
    ("cats/tabby 1#.jpg", "cats/tabby 1#.jpg"),
    ("../../etc/x.jpg", "etc/x.jpg"),
    ("/abs/path.png", "abs/path.png"),
    ("C:\\Users\\me\\photo.jpg", "C_/Users/me/photo.jpg"),
    (".hidden/.x.jpg", None),
    ("a/\x00b.jpg", "a/_b.jpg"),
    ("..", None),
])
def test_safe_relative_names(name, expected):
    assert safe_relative_name(name) == expected


def test_same_names_are_all_kept_and_other_files_skipped(tmp_path):
    files = [("a.jpg", io.BytesIO(b"1")), ("a.jpg", io.BytesIO(b"2")),
             ("x.exe", io.BytesIO(b"MZ"))]
    upload = save_uploads(files, tmp_path, UploadLimits())
    assert upload.saved == ["a.jpg", "a-1.jpg"]
    assert list(upload.skipped) == ["x.exe"]
    assert (upload.folder / "a-1.jpg").read_bytes() == b"2"
    assert upload.folder.parent == tmp_path / "uploads"


def test_an_oversized_file_is_skipped_and_an_oversized_upload_refused(tmp_path):
    limits = UploadLimits(max_files=3, max_total_bytes=100, max_file_bytes=40)
    upload = save_uploads([("big.jpg", io.BytesIO(b"x" * 41)), ("ok.jpg", io.BytesIO(b"y"))],
                          tmp_path, limits)
    assert upload.saved == ["ok.jpg"] and upload.skipped["big.jpg"].startswith("too-large")
    with pytest.raises(UploadRefused, match="over"):
        save_uploads([(f"{n}.jpg", io.BytesIO(b"z" * 40)) for n in range(3)], tmp_path, limits)
    with pytest.raises(UploadRefused, match="more than 3"):
        save_uploads([(f"{n}.jpg", io.BytesIO(b"z")) for n in range(4)], tmp_path, limits)
    # Refused uploads leave nothing behind: only the first, good upload's folder remains.
    assert len(list((tmp_path / "uploads").iterdir())) == 1


def test_zip_members_cannot_escape_and_bombs_are_refused(tmp_path):
    archive = io.BytesIO()
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("../../../../tmp/evil.jpg", b"1")
        zf.writestr("ok/b.png", b"2")
        zf.writestr("ok/", b"")
    upload = save_uploads([("x.zip", archive)], tmp_path, UploadLimits())
    assert sorted(upload.saved) == ["ok/b.png", "tmp/evil.jpg"]
    assert all(p.is_relative_to(upload.folder) for p in upload.folder.rglob("*"))

    bomb = io.BytesIO()
    with zipfile.ZipFile(bomb, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("zeros.jpg", b"\0" * 10_000)
    with pytest.raises(UploadRefused, match="inflates"):
        save_uploads([("bomb.zip", bomb)], tmp_path, UploadLimits(max_total_bytes=5_000))
    with pytest.raises(UploadRefused, match="not a readable zip"):
        save_uploads([("fake.zip", io.BytesIO(b"PK not a zip"))], tmp_path, UploadLimits())


def test_no_images_is_one_clear_refusal(tmp_path):
    with pytest.raises(UploadRefused, match="no images in the upload"):
        save_uploads([("notes.txt", io.BytesIO(b"hi"))], tmp_path, UploadLimits())


def _labelled(path: str, label: str, p: float) -> Item:
    return Item(path, LabelResult(label, p, p, ((label, p),), ""), None)


ITEMS = [_labelled("a.jpg", "cat", 0.9), _labelled("b.jpg", "dog", 0.4),
         Item("c.jpg", None, "corrupt: bad header"), _labelled("d.jpg", "cat", 0.3)]


def test_item_queries_filter_sort_and_page(store):
    store.create_job("q", [i.path for i in ITEMS], ("cat", "dog"), root="/r", queue="q")
    store.record_chunk("q", {n: i.result for n, i in enumerate(ITEMS) if i.result},
                       {n: i.error for n, i in enumerate(ITEMS) if i.error})

    def select(query):
        return select_items(store, "q", query, len(ITEMS))

    page = select(ItemQuery(sort="confidence"))
    assert [r["path"] for r in page["items"]] == ["c.jpg", "d.jpg", "b.jpg", "a.jpg"]
    assert page["labels"] == {"cat": 2, "dog": 1, "failed": 1}
    review = select(ItemQuery(below=0.5))
    assert [r["path"] for r in review["items"]] == ["b.jpg", "d.jpg"]
    assert review["needs_review"] == 2
    cats = select(ItemQuery(label="cat", offset=1, limit=1))
    assert cats["matched"] == 2 and [r["path"] for r in cats["items"]] == ["d.jpg"]
    assert [r["path"] for r in select(ItemQuery(label="failed"))["items"]] == [
        "c.jpg"]


def test_label_studio_tasks_match_the_config(store):
    store.create_job("ls", [i.path for i in ITEMS], ("cat", "dog"), root="/r", queue="q")
    store.record_chunk("ls", {n: i.result for n, i in enumerate(ITEMS) if i.result},
                       {n: i.error for n, i in enumerate(ITEMS) if i.error})
    tasks = list(job_tasks(store, "ls", ImageAddress("served", "http://h:1/")))
    assert tasks[0]["predictions"][0]["result"][0]["value"] == {"choices": ["cat"]}
    assert tasks[0]["predictions"][0]["model_version"] == ITEMS[0].result.model
    assert tasks[0]["data"]["image"] == "http://h:1/api/jobs/ls/image?index=0&size=2048"
    assert tasks[2]["predictions"] == [] and tasks[2]["data"]["error"].startswith("corrupt")
    assert [t["data"]["path"] for t in job_tasks(store, "ls", ImageAddress("served", "http://h"),
                                                below=0.5)] == ["b.jpg", "d.jpg"]
    config = ElementTree.fromstring(labelling_config(["cat", 'dog "x" <y>']))
    assert [c.get("value") for c in config.iter("Choice")] == ["cat", 'dog "x" <y>']
    assert config.find("Choices").get("toName") == config.find("Image").get("name") == "image"
