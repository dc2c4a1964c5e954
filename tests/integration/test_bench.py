"""`labeler bench` runs for real on small inputs and reports figures that add up."""

import json

import pytest

from tests.conftest import cli_env, run_cli, write_image


def test_bench_model_reports_every_precision_and_batch(labeler_home):
    proc = run_cli(["bench", "model", "--batch-sizes", "1,4", "--no-keras", "--json"],
                   cli_env(labeler_home))
    assert proc.returncode == 0, proc.stderr
    rows = json.loads(proc.stdout)
    assert {(r["precision"], r["batch"]) for r in rows} == {
        (p, b) for p in ("fp32", "fp16", "int8") for b in (1, 4)}
    assert all(r["images_per_second"] > 0 and r["ms_p10"] <= r["ms_p90"] for r in rows)


def test_bench_decode_with_and_without_draft(labeler_home, tmp_path):
    for i in range(20):
        write_image(tmp_path / f"{i}.jpg", seed=i, size=(640, 480))
    proc = run_cli(["bench", "decode", str(tmp_path), "--json"], cli_env(labeler_home))
    rows = json.loads(proc.stdout)
    assert [r["draft"] for r in rows] == [True, False]
    assert all(r["images"] == 20 and r["per_core_images_per_second"] > 0 for r in rows)
    # Decoding a 640x480 JPEG at 1/8 scale costs less CPU than decoding every pixel.
    draft, full = rows
    assert 0 < draft["per_core_cpu_ms_per_image"] < full["per_core_cpu_ms_per_image"]


@pytest.mark.train  # the one-image-at-a-time Keras loop it is compared with
def test_bench_pipeline_through_redis_and_a_worker(labeler_home, redis_url, store, worker):
    chart = labeler_home / "pipeline.png"
    proc = run_cli(["bench", "pipeline", "--synthetic", "300", "--habit", "20", "--json",
                    "--rounds", "2", "--plot", str(chart)],
                   cli_env(labeler_home, redis_url), timeout=300)
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout)
    assert chart.read_bytes()[:4] == b"\x89PNG"
    # The progress line ends at the job's total, not where the last poll happened to see it.
    assert "300/300" in proc.stderr.splitlines()[-2] + proc.stderr.splitlines()[-1]
    assert (result["labelled"], result["failed"]) == (300, 0)
    assert store.job_record(result["job"]) == {}  # each round's job forgotten once read
    assert sum(size * count for size, count in
               ((int(k), v) for k, v in result["batch_sizes"].items())) == 300
    assert {"queue_wait", "decode", "infer", "write"} <= set(result["stage_seconds"])
    assert result["fraction_of_ceiling"] > 0 and result["serial_ceiling"] > 0
    # Two rounds, the second with the plain script first: each has both rates.
    assert len(result["rounds"]) == 2 and all(
        r["plain_script_images_per_second"] > 0 and r["times_plain_script"] > 0
        for r in result["rounds"])
    # Each round also per CPU second given: Linux counts the time a hypervisor stole.
    assert all(r["stolen_seconds"] >= 0 and r["plain_script_stolen_seconds"] >= 0
               and r["times_plain_script_unstolen"] > 0 for r in result["rounds"])
    assert result["times_plain_script_unstolen"] in {
        r["times_plain_script_unstolen"] for r in result["rounds"]}
    # The one-image-at-a-time Keras loop, timed in the same run, is far slower.
    assert result["habit"]["images"] == 20 and result["times_habit"] > 1


@pytest.mark.train
def test_bench_train_times_a_step_in_float32_and_in_bfloat16(labeler_home):
    proc = run_cli(["bench", "train", "--preset", "whitened", "--batch-size", "8",
                    "--repeats", "2", "--json"], cli_env(labeler_home), timeout=300)
    assert proc.returncode == 0, proc.stderr
    rows = json.loads(proc.stdout)
    assert [r["compute"] for r in rows] == ["fp32", "bf16"]
    assert all(r["ms_per_step"] > 0 and r["images_per_second"] > 0 for r in rows)
    # The speed-up is each row's step time against float32's, so float32's own is 1.
    assert rows[0]["speedup"] == 1.0
    assert rows[1]["speedup"] == round(rows[0]["ms_per_step"] / rows[1]["ms_per_step"], 2)


def test_bench_model_draws_its_chart(labeler_home, tmp_path):
    chart = tmp_path / "model.png"
    proc = run_cli(["bench", "model", "--batch-sizes", "1", "--no-keras", "--plot", str(chart)],
                   cli_env(labeler_home))
    assert proc.returncode == 0, proc.stderr
    assert "images_per_second" in proc.stdout and "worst case" in proc.stderr
    assert chart.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_a_chart_that_cannot_be_written_is_refused_before_measuring(labeler_home, tmp_path):
    proc = run_cli(["bench", "model", "--plot", str(tmp_path / "missing" / "model.png")],
                   cli_env(labeler_home))
    assert proc.returncode == 2 and "cannot write into" in proc.stderr
    assert "measuring" not in proc.stderr


def test_plots_need_nothing_beyond_the_plain_install():
    import tomllib

    from tests.conftest import REPO

    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    assert any(d.startswith("matplotlib") for d in project["dependencies"])
