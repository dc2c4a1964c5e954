"""Label Studio's side of the review loop: image addresses, reading its exports, manifests."""

import json

import pytest

from labeler.datasets import in_class_order, load_dataset
from labeler.errors import LabelerError
from labeler.labelstudio import ImageAddress, parse_address, prediction, reviewed_labels
from labeler.manifest import read_manifest, write_manifest
from tests.conftest import write_image


def test_image_addresses_name_each_image_the_way_its_setup_serves_it():
    served = parse_address("served:https://labeler.example/")
    assert served.url("j1", 7, "/data/photos", "a b.jpg") == (
        "https://labeler.example/api/jobs/j1/image?index=7&size=2048")
    assert parse_address("served", served_base="http://127.0.0.1:8000").base == (
        "http://127.0.0.1:8000")
    local = parse_address("local-files:/data")
    assert local.url("j1", 0, "/data/photos", "cats/tabby #1.jpg") == (
        "/data/local-files/?d=photos/cats/tabby%20%231.jpg")
    prefix = parse_address("url-prefix:https://bucket.example/photos")
    assert prefix.url("j1", 0, "/x", "cats/a&b.jpg") == (
        "https://bucket.example/photos/cats/a%26b.jpg")


@pytest.mark.parametrize("text", ["served", "ftp:/x", "url-prefix:/srv", "local-files:rel",
                                  "served:labeler:8000"])
def test_an_address_that_cannot_work_is_refused_in_one_line(text):
    with pytest.raises(LabelerError):
        parse_address(text)


def test_local_files_refuse_an_image_outside_the_document_root():
    with pytest.raises(LabelerError, match="LABEL_STUDIO_LOCAL_FILES_DOCUMENT_ROOT"):
        ImageAddress("local-files", "/data").url("j", 0, "/home/me/photos", "a.jpg")


def _task(path, predicted, *annotations, task_id=1):
    return {"id": task_id, "data": {"image": "x", "path": path, "folder": "/photos"},
            "predictions": [{"id": 9, **prediction(predicted, 0.7, "m:fp32:abc")}]
            if predicted else [],
            "annotations": [{"id": n, "result": prediction(label, 0, "")["result"] if label
                             else [], "was_cancelled": cancelled, "ground_truth": truth,
                             "updated_at": f"2026-12-0{n}T00:00:00Z"}
                            for n, (label, cancelled, truth) in enumerate(annotations, 1)]}


def test_reviewed_labels_tell_corrections_from_accepted_predictions():
    tasks = [
        _task("a.jpg", "cat", ("dog", False, False)),                        # corrected
        _task("b.jpg", "cat", ("cat", False, False)),                        # accepted
        _task("c.jpg", "cat", ("dog", False, False), ("cat", False, False)),  # latest wins
        _task("d.jpg", "cat", ("dog", False, True), ("cat", False, False)),   # ground truth wins
        _task("e.jpg", "cat"),                                               # nobody looked
        _task("f.jpg", "cat", ("dog", True, False)),                         # skipped
        _task("g.jpg", None, ("bird", False, False)),                        # failed image
    ]
    review = reviewed_labels(tasks)
    assert [(r.path, r.label, r.source) for r in review.labels] == [
        ("/photos/a.jpg", "dog", "corrected"), ("/photos/b.jpg", "cat", "accepted"),
        ("/photos/c.jpg", "cat", "accepted"), ("/photos/d.jpg", "dog", "corrected"),
        ("/photos/g.jpg", "bird", "annotated")]
    assert review.counts["unreviewed"] == 1 and review.counts["skipped"] == 1
    kept = reviewed_labels(tasks, keep_unreviewed=True)
    assert ("/photos/e.jpg", "cat", "predicted") in [
        (r.path, r.label, r.source) for r in kept.labels]
    assert "2 corrected" in review.summary() and "1 skipped" in review.summary()


def test_an_export_naming_predictions_by_id_still_tells_what_the_model_said():
    # Label Studio's plain JSON export lists a task's predictions by id only.
    task = _task("a.jpg", None, ("dog", False, False))
    task["predictions"], task["data"]["predicted_label"] = [9], "cat"
    assert reviewed_labels([task]).labels[0].source == "corrected"
    task["annotations"][0]["prediction"] = prediction("dog", 0.6, "v2")
    assert reviewed_labels([task]).labels[0].source == "accepted"


def test_tasks_from_elsewhere_are_refused():
    with pytest.raises(LabelerError, match="data.path"):
        reviewed_labels([{"id": 3, "data": {"image": "x"}}])


def test_a_manifest_round_trips_and_trains_in_a_models_class_order(tmp_path):
    files = [write_image(tmp_path / "images" / f"{n}.jpg", n) for n in range(6)]
    # Relative paths are read from the manifest's folder; absolute ones as they are.
    rows = [(str(f.relative_to(tmp_path)) if n < 3 else str(f), "dog" if n % 2 else "cat",
             "accepted") for n, f in enumerate(files)]
    manifest = tmp_path / "reviewed.csv"
    assert write_manifest(rows, manifest) == 6
    assert [label for _p, label in read_manifest(str(manifest))] == [r[1] for r in rows]
    data = load_dataset(str(manifest), "train")
    assert data.classes == ("cat", "dog") and data.pixels.shape == (6, 32, 32, 3)
    ordered = in_class_order(data, ("bird", "cat", "dog"))
    assert list(ordered.labels) == [1, 2, 1, 2, 1, 2]
    with pytest.raises(LabelerError, match="not among the model's classes"):
        in_class_order(data, ("bird", "cat"))


def test_a_manifest_with_missing_images_or_columns_says_so(tmp_path):
    (tmp_path / "bad.csv").write_text("file,class\na.jpg,cat\n")
    with pytest.raises(LabelerError, match="path and label"):
        read_manifest(str(tmp_path / "bad.csv"))
    (tmp_path / "gone.csv").write_text("path,label\nnot-there.jpg,cat\n")
    with pytest.raises(LabelerError, match="do not exist"):
        load_dataset(str(tmp_path / "gone.csv"), "train")


def test_an_export_that_is_not_a_list_of_tasks_is_refused(tmp_path):
    from labeler.labelstudio import read_export

    (tmp_path / "min.json").write_text(json.dumps({"image": "x"}))
    with pytest.raises(LabelerError, match="JSON export"):
        read_export(str(tmp_path / "min.json"))
