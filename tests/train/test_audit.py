"""`labeler audit`: out-of-sample probabilities from fold models, and cleanlab over them."""

import csv

import numpy as np
import pytest

from labeler.errors import LabelerError
from labeler.manifest import write_manifest
from labeler.training.audit import audit, fold_of, labelled_files


def test_each_class_is_dealt_across_every_fold():
    labels = ["a"] * 7 + ["b"] * 3
    fold = fold_of(labels, 3, seed=0)
    for label in ("a", "b"):
        counts = np.bincount(fold[[i for i, x in enumerate(labels) if x == label]], minlength=3)
        assert counts.max() - counts.min() <= 1
    with pytest.raises(LabelerError, match="class 'b' has 3 images"):
        fold_of(labels, 4, seed=0)


def test_flipped_labels_rank_first_judged_by_models_that_never_saw_them(
        tiny_dataset, tmp_path, monkeypatch):
    monkeypatch.setenv("LABELER_HOME", str(tmp_path / "home"))
    files = labelled_files(str(tiny_dataset))  # train/: blue, green, red, 24 of each
    assert len(files) == 72 and [files[i][1] for i in (0, 30, 60)] == ["blue", "green", "red"]
    flipped = {0: "green", 30: "red", 60: "blue"}  # one image of each class, relabelled
    noisy = [(path, flipped.get(i, label), "given") for i, (path, label) in enumerate(files)]
    write_manifest(noisy, tmp_path / "noisy.csv")
    suspects = audit(str(tmp_path / "noisy.csv"), tmp_path / "audit.csv", tmp_path / "runs",
                     folds=2)
    assert (tmp_path / "runs" / "fold1" / "run" / "model.keras").is_file()
    planted = {files[i][0] for i in flipped}
    assert planted <= {s.path for s in suspects[:6]}
    assert all(s.suggested == files[i][1] for i in flipped for s in suspects
               if s.path == files[i][0])
    # Audited again with one label changed back, the work folder's fold runs are not reused
    # for data they did not train on.
    models = [tmp_path / "runs" / f"fold{k}" / "run" / "model.keras" for k in (0, 1)]
    kept = [model.stat().st_mtime_ns for model in models]
    write_manifest([(path, label, "given") for path, label in files[:1]] + noisy[1:],
                   tmp_path / "noisy.csv")
    again = audit(str(tmp_path / "noisy.csv"), tmp_path / "audit2.csv", tmp_path / "runs",
                  folds=2)
    assert files[0][0] not in {s.path for s in again[:2]}
    assert [model.stat().st_mtime_ns for model in models] != kept
    with open(tmp_path / "audit.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert [r["path"] for r in rows] == [s.path for s in suspects]
    assert rows[0]["rank"] == "1" and set(rows[0]) == {
        "rank", "path", "given", "suggested", "given_probability"}


def test_one_class_or_no_images_is_a_clear_error(tmp_path):
    image = tmp_path / "a.png"
    image.write_bytes(b"")
    write_manifest([(str(image), "cat", "given")] * 3, tmp_path / "one.csv")
    with pytest.raises(LabelerError, match="one class only"):
        audit(str(tmp_path / "one.csv"), tmp_path / "out.csv", tmp_path / "runs")
    (tmp_path / "empty.csv").write_text("path,label,source\n")
    with pytest.raises(LabelerError, match="lists no images"):
        audit(str(tmp_path / "empty.csv"), tmp_path / "out.csv", tmp_path / "runs")
