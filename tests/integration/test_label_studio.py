"""The review loop against a real Label Studio: labeler's tasks imported into it, their images
shown in its labelling page in Chromium (served by `labeler serve` with CORS, and from Label
Studio's own local-files storage), labels changed there through its API, its export turned
into a manifest, and a bundle fine-tuned on that manifest.

Slow (Label Studio installs into a venv of its own on first use and migrates its database on
start), and run by CI like every other test."""

from __future__ import annotations

import csv
import json
import os
import random
import urllib.request
from pathlib import Path

import pytest

from labeler.bundle import load_bundle
from labeler.settings import DEFAULT_BUNDLE
from tests.conftest import _free_port, cifar_test_images, cli_env, run_cli
from tests.integration import label_studio
from tests.web.conftest import CHROMIUM_ARGS, chromium_path, http, start_server, stop_server

pytestmark = [pytest.mark.slow, pytest.mark.train]  # the loop ends by fine-tuning

IMAGES, CHANGED = 200, 20
# Set to a path to refresh docs/label-studio.png from this test.
SCREENSHOT = os.environ.get("LABELER_LS_SCREENSHOT")


@pytest.fixture(scope="module")
def workspace(tmp_path_factory):
    root = tmp_path_factory.mktemp("review")
    (root / "documents" / "photos").mkdir(parents=True)
    cifar_test_images(root / "documents" / "photos", IMAGES)
    (root / "studio").mkdir()
    return root


@pytest.fixture(scope="module")
def studio(workspace):
    server = label_studio.start(workspace / "studio", workspace / "documents")
    yield server
    os.killpg(server.process.pid, 15)
    server.process.wait(timeout=30)


@pytest.fixture(scope="module")
def labeler_web(studio):
    """`labeler serve` that lets Label Studio's origin read its images, with links built from
    its public URL (here the name localhost, not the address the requests use)."""
    port = _free_port()
    server = start_server("--cors-origin", studio.url, "--public-url",
                          f"http://localhost:{port}", port=port)
    yield server
    stop_server(server)


@pytest.fixture(scope="module")
def job(workspace, labeler_web):
    env = cli_env(labeler_web.home)
    done = run_cli(["submit", str(workspace / "documents" / "photos"), "--wait", "--json"], env,
                   timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])["job"]


def _results(labeler_web, job: str, out: Path, *args: str) -> Path:
    done = run_cli(["results", job, "-o", str(out), *args], cli_env(labeler_web.home))
    assert done.returncode == 0, done.stderr
    return out


@pytest.fixture
def browser_page(studio):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium_path(),
                                             args=CHROMIUM_ARGS)
        page = browser.new_context(viewport={"width": 1280, "height": 760}).new_page()
        page.goto(f"{studio.url}/user/login/")
        page.fill("input[name=email]", label_studio.EMAIL)
        page.fill("input[name=password]", label_studio.PASSWORD)
        page.click("button[type=submit]")
        page.wait_for_url(lambda url: "/login" not in url, timeout=60_000)
        yield page
        browser.close()


def _labelling_image_width(page, studio, project: int, task: int) -> int:
    """Label Studio's labelling page fetches the task's image (a CORS request for another
    origin's URL) and shows it from a blob: URL; its natural width once it has loaded."""
    page.goto(f"{studio.url}/projects/{project}/data?task={task}")
    loaded = ("() => [...document.querySelectorAll('img')].find("
              "i => i.src.startsWith('blob:') && i.complete && i.naturalWidth > 0)")
    page.wait_for_function(f"() => !!({loaded})()", timeout=90_000)
    return page.evaluate(f"() => ({loaded})().naturalWidth")


@pytest.mark.parametrize("setup", ["served", "local-files"])
def test_label_studio_shows_the_image_of_each_task(setup, workspace, studio, labeler_web, job,
                                                   browser_page):
    images = (f"served:http://localhost:{labeler_web.url.rsplit(':', 1)[1]}"
              if setup == "served" else f"local-files:{workspace / 'documents'}")
    tasks = json.loads(_results(labeler_web, job, workspace / f"{setup}.json",
                                "--format", "labelstudio", "--images", images).read_text())
    config = _results(labeler_web, job, workspace / "config.xml",
                      "--format", "labelstudio-config").read_text()
    assert len(tasks) == IMAGES
    project = studio.create_project(f"labeler {setup}", config)
    if setup == "local-files":
        studio.add_local_storage(project, workspace / "documents" / "photos")
    imported = studio.import_tasks(project, tasks)
    assert imported["task_count"] == imported["prediction_count"] == IMAGES
    first = studio.tasks(project)[0]
    assert first["predictions"][0]["model_version"] == tasks[0]["predictions"][0][
        "model_version"]
    assert _labelling_image_width(browser_page, studio, project, first["id"]) == 32
    if SCREENSHOT and setup == "served":
        browser_page.wait_for_timeout(1500)
        browser_page.screenshot(path=SCREENSHOT)


def test_without_the_option_no_origin_may_read_the_images(labeler_web, job, studio):
    image = f"{labeler_web.url}/api/jobs/{job}/image?index=0"
    for origin, allowed in ((studio.url, studio.url), ("http://elsewhere.example", None)):
        request = urllib.request.Request(image, headers={"Origin": origin})
        with urllib.request.urlopen(request, timeout=30) as response:
            assert response.headers.get("Access-Control-Allow-Origin") == allowed


def test_reviewed_labels_train_a_new_bundle(workspace, studio, labeler_web, job, tmp_path):
    # Two images reviewed on labeler's page first travel as annotations, with their reviewer.
    classes = load_bundle(DEFAULT_BUNDLE).classes
    status, _ = http(f"{labeler_web.url}/api/jobs/{job}/reviews",
                     json.dumps({"labels": {"0": classes[0], "1": classes[1]}}).encode(),
                     {"X-Labeler": "1", "Content-Type": "application/json"})
    assert status == 200
    tasks = json.loads(_results(labeler_web, job, tmp_path / "tasks.json", "--format",
                                "labelstudio", "--images",
                                f"local-files:{workspace / 'documents'}").read_text())
    config = _results(labeler_web, job, tmp_path / "config.xml",
                      "--format", "labelstudio-config").read_text()
    project = studio.create_project("labeler review loop", config)
    studio.add_local_storage(project, workspace / "documents" / "photos")
    studio.import_tasks(project, tasks)
    imported = {t["data"]["path"]: t for t in studio.tasks(project)}
    pre_reviewed = [t for t in imported.values() if t["data"].get("reviewed_by") == "local"]
    assert len(pre_reviewed) == 2
    assert all(t["total_annotations"] == 1 for t in pre_reviewed)

    # People accept 180 predictions as they are and correct 20 to another class.
    stored = studio.tasks(project)
    changed = set(random.Random(0).sample(range(len(stored)), CHANGED))
    corrections = {}
    for n, task in enumerate(stored):
        predicted = task["data"]["predicted_label"]
        label = classes[(classes.index(predicted) + 1) % len(classes)] if n in changed \
            else predicted
        studio.annotate(task["id"], label)
        if n in changed:
            corrections[os.path.join(task["data"]["folder"], task["data"]["path"])] = label
    export = tmp_path / "export.json"
    export.write_text(json.dumps(studio.export(project)))

    env = cli_env(labeler_web.home)
    manifest = tmp_path / "reviewed.csv"
    done = run_cli(["reviewed", str(export), "-o", str(manifest)], env)
    assert done.returncode == 0, done.stderr
    assert "20 corrected, 180 accepted" in done.stdout
    rows = list(csv.DictReader(manifest.open()))
    assert {r["path"]: r["label"] for r in rows if r["source"] == "corrected"} == corrections
    assert sum(r["source"] == "accepted" for r in rows) == IMAGES - CHANGED

    run, bundle = tmp_path / "run", tmp_path / "bundle"
    trained = run_cli(["train", str(manifest), "--from", str(DEFAULT_BUNDLE), "--out", str(run),
                       "--epochs", "1"], env, timeout=600)
    assert trained.returncode == 0, trained.stdout[-2000:] + trained.stderr[-2000:]
    exported = run_cli(["export", str(run / "model.keras"), "-o", str(bundle)], env,
                       timeout=600)
    assert exported.returncode == 0, exported.stdout[-2000:] + exported.stderr[-2000:]
    old, new = load_bundle(DEFAULT_BUNDLE), load_bundle(bundle)
    assert new.classes == old.classes
    assert new.model_id("fp32") != old.model_id("fp32")
    record = new.metadata["training"]
    assert record["data"] == str(manifest.resolve()) and record["images"] > 0
    assert record["fine_tuned_from"]["model_version"] == old.model_id("fp32")


def test_a_project_connected_to_labeler_gets_predictions_and_sends_annotations_back(
    workspace, studio, labeler_web, job, tmp_path
):
    config = _results(labeler_web, job, tmp_path / "config.xml",
                      "--format", "labelstudio-config").read_text()
    project = studio.create_project("labeler as the ML backend", config)
    studio.add_local_storage(project, workspace / "documents" / "photos")
    photos = workspace / "documents" / "photos"
    never_exported = sorted(photos.rglob("*.jpg"))[0].relative_to(workspace / "documents")
    exported = json.loads(_results(labeler_web, job, tmp_path / "tasks.json", "--format",
                                   "labelstudio", "--images",
                                   f"local-files:{workspace / 'documents'}").read_text())[1]
    exported.pop("predictions")
    studio.import_tasks(project, [{"data": {"image": f"/data/local-files/?d={never_exported}"}},
                                  exported])
    studio.call("POST", "/api/ml", {"project": project, "url": f"{labeler_web.url}/ml",
                                    "title": "labeler"})

    studio.call("POST", f"/api/dm/actions?id=retrieve_tasks_predictions&project={project}",
                {"selectedItems": {"all": True, "excluded": []}})
    tasks = studio.tasks(project)
    shipped = load_bundle(DEFAULT_BUNDLE)
    for task in tasks:
        [predicted] = task["predictions"]
        assert predicted["model_version"].startswith(shipped.name) and predicted["score"] > 0
        assert predicted["result"][0]["value"]["choices"][0] in shipped.classes

    # Annotating the task labeler exported stores a review in its job, by that annotator.
    task = next(t for t in tasks if t["data"].get("job") == job)
    other = next(c for c in shipped.classes if c != task["data"]["predicted_label"])
    studio.annotate(task["id"], other)
    status, raw = http(f"{labeler_web.url}/api/jobs/{job}/reviewed.csv")
    rows = list(csv.DictReader(raw.decode().splitlines()))
    mine = [r for r in rows if r["path"].endswith(task["data"]["path"])]
    assert status == 200 and len(mine) == 1
    assert (mine[0]["label"], mine[0]["source"]) == (other, "corrected")
    assert mine[0]["reviewer"].startswith("label-studio:")
