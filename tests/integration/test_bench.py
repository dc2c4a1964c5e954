"""`labeler bench` runs for real on small inputs and reports figures that add up."""

import json

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


def test_bench_pipeline_through_redis_and_a_worker(labeler_home, redis_url, store, worker):
    proc = run_cli(["bench", "pipeline", "--synthetic", "300", "--habit", "20", "--json"],
                   cli_env(labeler_home, redis_url), timeout=300)
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout)
    assert (result["labelled"], result["failed"]) == (300, 0)
    assert sum(size * count for size, count in
               ((int(k), v) for k, v in result["batch_sizes"].items())) == 300
    assert {"queue_wait", "decode", "infer", "write"} <= set(result["stage_seconds"])
    assert result["fraction_of_ceiling"] > 0 and result["serial_ceiling"] > 0
    # The seeds' one-image-at-a-time Keras loop, timed in the same run, is far slower.
    assert result["habit"]["images"] == 20 and result["times_habit"] > 1


def test_bench_train_times_a_step_in_float32_and_in_bfloat16(labeler_home):
    proc = run_cli(["bench", "train", "--preset", "baseline", "--batch-size", "8",
                    "--repeats", "2", "--json"], cli_env(labeler_home), timeout=300)
    assert proc.returncode == 0, proc.stderr
    rows = json.loads(proc.stdout)
    assert [r["compute"] for r in rows] == ["fp32", "bf16"]
    assert all(r["ms_per_step"] > 0 and r["images_per_second"] > 0 for r in rows)
    # The speed-up is each row's step time against float32's, so float32's own is 1.
    assert rows[0]["speedup"] == 1.0
    assert rows[1]["speedup"] == round(rows[0]["ms_per_step"] / rows[1]["ms_per_step"], 2)
