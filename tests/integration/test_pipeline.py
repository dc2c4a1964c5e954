"""The whole path: `labeler submit` -> Redis -> real worker process -> results, against a real
Redis started by the tests."""

from __future__ import annotations

import csv
import io
import json

import numpy as np
import pytest

from labeler.engine import InferenceEngine
from labeler.imaging import decode_image
from tests.conftest import SHIPPED_CLASSES, cli_env, run_cli, wait_for_workers, write_image

CORRUPT = {
    "bad/empty.jpg": b"",
    "bad/text.png": b"this is not a picture",
    "bad/truncated.jpg": None,  # filled in below from a real JPEG
}


@pytest.fixture
def image_folder(tmp_path):
    root = tmp_path / "images"
    for i in range(150):
        write_image(root / f"class{i % 3}" / f"img{i:03d}.jpg", seed=i)
    for i in range(10):
        write_image(root / "png" / f"p{i}.PNG", seed=1000 + i, size=(50, 40), fmt="PNG")
    write_image(root / "ünï cödé" / "phöto (1) #2.JPG", seed=500)  # odd names survive
    write_image(root / "a" / "b" / "c" / "d" / "deep.webp", seed=501, fmt="WEBP")
    (root / "notes.txt").write_text("ignored")
    whole = write_image(root / "tmp.jpg", seed=7, size=(256, 256)).read_bytes()
    (root / "tmp.jpg").unlink()
    for name, data in CORRUPT.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_bytes(data if data is not None else whole[: len(whole) // 2])
    return root


def test_submit_wait_labels_every_image_like_a_direct_onnx_run(
    image_folder, labeler_home, redis_url, store, worker, bundle, tmp_path
):
    env = cli_env(labeler_home, redis_url)
    out = tmp_path / "out.csv"
    proc = run_cli(["submit", str(image_folder), "--wait", "--json", "-o", str(out)], env)
    assert proc.returncode == 3, proc.stderr  # finished, with some failed items
    summary = json.loads(proc.stdout.strip().splitlines()[-1])
    assert (summary["total"], summary["labelled"], summary["failed"]) == (165, 162, 3)
    assert summary["state"] == "done"

    rows = list(csv.DictReader(out.open()))
    assert list(rows[0])[:4] == ["path", "label", "confidence", "error"]
    assert len(rows) == 165 and len({r["path"] for r in rows}) == 165
    failed = {r["path"]: r["error"] for r in rows if r["error"]}
    assert set(failed) == set(CORRUPT)
    assert failed["bad/empty.jpg"].startswith("empty")
    assert all(r["label"] == "" for r in rows if r["error"])

    good = [r for r in rows if not r["error"]]
    precision = good[0]["model"].split(":")[1]  # the variant the worker chose
    assert precision == "int8"  # the CPU default when the bundle has it
    engine = InferenceEngine(bundle, precision, "cpu")
    pixels = np.stack([decode_image(image_folder / r["path"], bundle.input_size) for r in good])
    probs = engine.run(pixels)
    assert [r["label"] for r in good] == [bundle.classes[i] for i in probs.argmax(1)]
    np.testing.assert_allclose([float(r["confidence"]) for r in good], probs.max(1), atol=1e-5)


def test_status_and_results_from_another_shell(
    image_folder, labeler_home, redis_url, store, worker
):
    env = cli_env(labeler_home, redis_url)
    proc = run_cli(["submit", str(image_folder), "--wait", "--json", "--top-k", "2"], env)
    job_id = json.loads(proc.stdout.strip().splitlines()[-1])["job"]

    status = json.loads(run_cli(["status", job_id, "--json"], env).stdout)
    assert (status["total"], status["labelled"], status["failed"], status["state"]) == (
        165, 162, 3, "done")

    overview = json.loads(run_cli(["status", "--json"], env).stdout)
    assert job_id in [j["job"] for j in overview["jobs"]]
    assert len(overview["workers"]) == 1

    jsonl = tmp = image_folder.parent / "r.jsonl"
    assert run_cli(["results", job_id, "-o", str(tmp)], env).returncode == 0
    lines = [json.loads(line) for line in jsonl.read_text().splitlines()]
    labelled = [x for x in lines if not x["error"]]
    assert len(lines) == 165 and all(len(x["top_k"]) == 2 for x in labelled)
    assert all(x["margin"] >= 0 and x["model"].startswith("cifar10") for x in labelled)
    # Every row has every field: a failed one has them all, null, beside its reason.
    assert all(list(x) == list(lines[0]) for x in lines)
    failed = [x for x in lines if x["error"]]
    assert len(failed) == 3 and all(
        x[k] is None for x in failed for k in ("label", "confidence", "margin", "top_k", "model"))

    # The overview names every queue the worker serves, and the jobs table lines up.
    served = overview["workers"][0]["queues"]
    assert set(served) <= set(overview["queues"]) and len(served) >= 1
    table = run_cli(["status"], env).stdout.splitlines()
    rows = table[table.index("recent jobs:") + 1:]
    assert rows[0].split() == ["job", "state", "done", "total", "labelled", "failed"]
    assert len({len(row) for row in rows}) == 1, "\n".join(rows)
    assert all(f"serving {', '.join(served)}" in line for line in table if "concurrency" in line)

    stdout_csv = run_cli(["results", job_id], env).stdout
    assert len(list(csv.DictReader(io.StringIO(stdout_csv)))) == 165

    def paths(*flags: str) -> set[str]:
        out = run_cli(["results", job_id, *flags], env).stdout
        return {row["path"] for row in csv.DictReader(io.StringIO(out))}

    assert paths("--label", "failed") == set(CORRUPT)
    label = labelled[0]["label"]
    assert paths("--label", label) == {x["path"] for x in labelled if x["label"] == label}
    cut = sorted(x["confidence"] for x in labelled)[len(labelled) // 2]
    unsure = {x["path"] for x in labelled if x["confidence"] < cut}
    assert unsure and paths("--below", str(cut)) == unsure


def test_inline_transport_labels_images_the_worker_cannot_see(
    image_folder, labeler_home, redis_url, store, worker, tmp_path
):
    env = cli_env(labeler_home, redis_url)
    proc = run_cli(["submit", str(image_folder), "--inline", "--wait", "--json"], env)
    summary = json.loads(proc.stdout.strip().splitlines()[-1])
    assert (summary["labelled"], summary["failed"]) == (162, 3)
    assert store.job_record(summary["job"])["transport"] == "inline"


def test_a_task_cannot_read_outside_the_submitted_folder(store, redis_url, worker, tmp_path):
    from labeler.broker import configure
    from labeler.protocol import TASK_NAME

    queue = wait_for_workers(store)[0]["queue"]
    store.create_job("evil", ["../../etc/passwd", "/etc/hostname"], SHIPPED_CLASSES,
                     root=str(tmp_path), queue=queue, top_k=1)
    app = configure(redis_url)
    app.send_task(TASK_NAME, args=["evil", 0, ["../../etc/passwd", "/etc/hostname"]],
                  queue=queue)
    from labeler.waiting import wait_for_job

    job = wait_for_job(store, "evil", timeout=30)
    assert job.failed == 2
    assert all(err.startswith("refused") for _, _, err in store.iter_items("evil"))


def test_score_grades_a_job_by_its_class_folders(labeler_home, redis_url, store, worker,
                                                 bundle, tmp_path):
    from tests.conftest import REPO

    env = cli_env(labeler_home, redis_url)
    proc = run_cli(["submit", str(REPO / "examples" / "images"), "--wait", "--json"], env)
    job_id = json.loads(proc.stdout.splitlines()[-1])["job"]
    report = tmp_path / "report"
    scored = run_cli(["score", job_id, "--report", str(report)], env)
    assert scored.returncode == 0, scored.stderr
    result = json.loads((report / "report.json").read_text())
    rows = list(store.iter_items(job_id))
    expected = sum(path.split("/")[0] == r.label for path, r, _ in rows) / len(rows)
    assert result["images"] == 40 and abs(result["top1"] - expected) < 1e-9
    assert sum(map(sum, result["confusion"])) == 40 and 0 <= result["ece"] <= 1
    assert (report / "confusion.png").stat().st_size and (report / "reliability.png").exists()
    assert f"top-1 {expected:.2%}" in scored.stdout


def test_workers_read_only_under_allowed_roots(labeler_home, redis_url, store, tmp_path):
    from labeler.broker import configure
    from labeler.protocol import TASK_NAME
    from labeler.waiting import wait_for_job
    from tests.conftest import start_worker, stop_process, wait_for_workers

    allowed, other = tmp_path / "allowed", tmp_path / "other"
    write_image(allowed / "a.jpg", seed=1)
    write_image(other / "b.jpg", seed=2)
    worker = start_worker(cli_env(labeler_home, redis_url, LABELER_ALLOWED_ROOTS=str(allowed)))
    try:
        queue = wait_for_workers(store)[0]["queue"]
        app = configure(redis_url)
        for job, root, name in (("in", allowed, "a.jpg"), ("out", other, "b.jpg")):
            store.create_job(job, [name], SHIPPED_CLASSES, root=str(root), queue=queue, top_k=1)
            app.send_task(TASK_NAME, args=[job, 0, [name]], queue=queue)
        assert wait_for_job(store, "in", timeout=30).labelled == 1
        assert wait_for_job(store, "out", timeout=30).failed == 1
        assert "LABELER_ALLOWED_ROOTS" in next(store.iter_items("out"))[2]
    finally:
        stop_process(worker)
