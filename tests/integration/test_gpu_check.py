"""The GPU check script's CPU mode: engine rates with and without I/O binding, and a real
worker whose labels match ONNX Runtime's own on the same images."""

import subprocess
import sys

from tests.conftest import REPO, cli_env


def test_the_gpu_check_runs_end_to_end_on_the_cpu(tmp_path):
    proc = subprocess.run(
        [sys.executable, str(REPO / "scripts" / "gpu_check.py"), str(REPO / "examples" / "images"),
         "--provider", "cpu", "--batches", "8,32"],
        env=cli_env(tmp_path), capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    rates = [words for words in map(str.split, proc.stdout.splitlines())
             if len(words) == 5 and words[0] in ("fp32", "fp16", "int8")]
    assert {r[0] for r in rates} == {"fp32", "fp16", "int8"}
    assert {r[1] for r in rates} == {"8", "32"}
    assert all(r[2] == "CPUExecutionProvider" for r in rates)
    assert "fp32 labels equal to ONNX Runtime on the CPU: 100.0000% of 40" in proc.stdout
