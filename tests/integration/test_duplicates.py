"""`labeler duplicates` on jobs labelled by a real worker."""

import csv
import json

from PIL import Image

from tests.conftest import REPO, cli_env, run_cli

EXAMPLES = sorted((REPO / "examples" / "images").rglob("*.jpg"))


def _labelled(env, folder) -> str:
    proc = run_cli(["submit", str(folder), "--wait", "--json"], env)
    assert proc.returncode in (0, 3), proc.stderr  # 3: some images failed
    return json.loads(proc.stdout.splitlines()[-1])["job"]


def test_copies_of_a_photo_are_grouped_and_other_photos_are_not(
    labeler_home, redis_url, worker, tmp_path
):
    env = cli_env(labeler_home, redis_url)
    for source in EXAMPLES[:12]:
        (tmp_path / f"{source.parent.name}-{source.name}").write_bytes(source.read_bytes())
    photo = Image.open(EXAMPLES[0]).convert("RGB")
    photo.transpose(Image.Transpose.FLIP_LEFT_RIGHT).save(tmp_path / "zz-mirrored.png")
    photo.resize((160, 160)).save(tmp_path / "zz-larger.jpg", quality=60)
    (tmp_path / "zz-broken.jpg").write_bytes(b"not an image")
    job = _labelled(env, tmp_path)

    out = tmp_path.parent / "groups.csv"
    proc = run_cli(["duplicates", job, "-o", str(out)], env)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith("1 group of near-duplicates, 3 images, among 14 labelled")
    rows = list(csv.DictReader(out.open()))
    first = f"{EXAMPLES[0].parent.name}-{EXAMPLES[0].name}"
    assert [r["path"] for r in rows] == [first, "zz-larger.jpg", "zz-mirrored.png"]
    assert {r["group"] for r in rows} == {"1"} and all(r["label"] for r in rows)

    exact = json.loads(run_cli(["duplicates", job, "--radius", "0", "--json"], env).stdout)
    assert exact["groups"] <= 1  # the mirror image's signature is exact; resizing moves bits


def test_one_image_or_an_unknown_job_is_a_clear_answer(labeler_home, redis_url, worker,
                                                       tmp_path):
    env = cli_env(labeler_home, redis_url)
    (tmp_path / "only.jpg").write_bytes(EXAMPLES[0].read_bytes())
    job = _labelled(env, tmp_path)
    proc = run_cli(["duplicates", job], env)
    assert proc.returncode == 0
    assert proc.stdout.strip() == f"1 labelled image in job {job}: nothing to compare it with"
    missing = run_cli(["duplicates", "no-such-job"], env)
    assert missing.returncode == 1 and "no-such-job" in missing.stderr
    assert len(missing.stderr.strip().splitlines()) == 1
