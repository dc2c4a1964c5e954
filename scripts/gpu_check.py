"""Prove the GPU path on a GPU host: the engine's images/s per precision and batch size, with
and without I/O binding, and a real worker on that provider labelling a folder through Redis
with the same labels as ONNX Runtime on the CPU.

    python scripts/gpu_check.py DATA/test                     # --provider cuda
    python scripts/gpu_check.py DATA/test --provider tensorrt
    python scripts/gpu_check.py DATA/test --provider cpu --limit 500   # the same, on a CPU

It exits 1 when the provider asked for is not the one that runs (ONNX Runtime falls back to
the CPU without a word when CUDA libraries fail to load) or when fewer than 99.9 % of fp32
labels agree. scripts/gpu-check.sh installs labeler from a folder of wheels first.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from labeler.bundle import load_bundle
from labeler.engine import CPU, CUDA, TENSORRT, InferenceEngine
from labeler.imaging import decode_image
from labeler.scan import scan_images
from labeler.settings import DEFAULT_BUNDLE

WANTED = {"cuda": CUDA, "tensorrt": TENSORRT, "cpu": CPU}


def decoded(folder: Path, limit: int | None, size) -> tuple[list[str], np.ndarray]:
    files = scan_images(folder)[:limit]
    return [f.path for f in files], np.stack([decode_image(folder / f.path, size) for f in files])


def engine_rates(bundle, provider: str, pixels: np.ndarray, batches: list[int]) -> list[dict]:
    rows = []
    for precision in bundle.variants:
        engine = InferenceEngine(bundle, precision, provider, threads=0)
        ran_on = engine.providers[0]
        for batch in batches:
            chunks = [pixels[i:i + batch] for i in range(0, len(pixels) - batch + 1, batch)]
            if not chunks:
                continue
            def plain(c=chunks, e=engine) -> None:
                for x in c:
                    e.run(x)

            rows.append({"precision": precision, "batch": batch, "provider": ran_on,
                         "images_per_second": _rate(plain, batch * len(chunks)),
                         "io_binding_images_per_second": _bound_rate(engine, chunks, ran_on)})
    return rows


def _rate(run, images: int, repeats: int = 3) -> float:
    run()  # warm-up: CUDA kernels chosen, TensorRT engines built
    best = min(_seconds(run) for _ in range(repeats))
    return round(images / best, 1)


def _seconds(run) -> float:
    clock = time.perf_counter()
    run()
    return time.perf_counter() - clock


def _bound_rate(engine, chunks, ran_on: str) -> float:
    """The same with I/O binding: inputs copied to the device up front, outputs left there,
    so what is timed is the model, not the host-device copies."""
    import onnxruntime as ort

    device = "cpu" if ran_on == CPU else "cuda"
    ort_session = engine.ort_session
    output = ort_session.get_outputs()[0].name
    bindings = []
    for chunk in chunks:
        binding = ort_session.io_binding()
        binding.bind_ortvalue_input(engine.input_name,
                                    ort.OrtValue.ortvalue_from_numpy(chunk, device, 0))
        binding.bind_output(output, device)
        bindings.append(binding)

    def run() -> None:
        for binding in bindings:
            ort_session.run_with_iobinding(binding)
            binding.synchronize_outputs()

    return _rate(run, sum(len(c) for c in chunks))


def worker_labels(folder: Path, provider: str, limit: int | None) -> dict[str, str]:
    """Labels of a real `labeler worker --provider PROVIDER --precision fp32` on its own
    embedded Redis, through `labeler submit --wait`."""
    home = Path(tempfile.mkdtemp(prefix="gpu-check-", dir="/tmp"))
    env = {**{k: v for k, v in os.environ.items() if not k.startswith("LABELER_")},
           "LABELER_HOME": str(home)}
    source = folder
    if limit:  # a folder of the first `limit` images (scans do not follow symbolic links)
        source = home / "images"
        for f in scan_images(folder)[:limit]:
            (source / f.path).parent.mkdir(parents=True, exist_ok=True)
            try:
                os.link(folder / f.path, source / f.path)
            except OSError:
                shutil.copyfile(folder / f.path, source / f.path)
    labeler = [sys.executable, "-P", "-m", "labeler.cli.main"]
    subprocess.run([*labeler, "status"], env=env, check=True, capture_output=True)
    worker = subprocess.Popen([*labeler, "worker", "--provider", provider, "--precision", "fp32",
                               "--concurrency", "1", "--batch-size", "256"], env=env,
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        out = home / "labels.jsonl"
        submit = subprocess.run([*labeler, "submit", str(source), "--precision", "fp32",
                                 "--no-spawn", "--wait", "--json", "-o", str(out)], env=env,
                                capture_output=True, text=True, timeout=1800)
        if submit.returncode not in (0, 3):
            raise SystemExit(f"labeler submit failed: {submit.stderr.strip()}")
        summary = json.loads(submit.stdout.splitlines()[-1])
        print(f"worker ({provider}): {summary['total']:,} images, "
              f"{summary['images_per_second']:,.0f} images/s submit to done")
        rows = [json.loads(line) for line in out.open()]
        return {r["path"]: r["label"] for r in rows if r["label"]}
    finally:
        worker.terminate()
        log = worker.communicate(timeout=60)[0]
        ran = [line for line in log.splitlines() if "ready:" in line]
        print(f"worker log: {ran[-1].split('ready: ', 1)[1] if ran else log[-400:]}")
        subprocess.run([*labeler, "stop"], env=env, capture_output=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("folder", type=Path)
    parser.add_argument("--provider", choices=sorted(WANTED), default="cuda")
    parser.add_argument("--model", type=Path, default=DEFAULT_BUNDLE)
    parser.add_argument("--limit", type=int, help="Use only the first N images.")
    parser.add_argument("--batches", default="64,256,1024")
    args = parser.parse_args()
    bundle = load_bundle(args.model)
    paths, pixels = decoded(args.folder, args.limit, bundle.input_size)

    rows = engine_rates(bundle, args.provider, pixels, [int(b) for b in args.batches.split(",")])
    print(f"{'precision':>9} {'batch':>5} {'provider':>28} {'images/s':>10} {'bound':>10}")
    for r in rows:
        print(f"{r['precision']:>9} {r['batch']:>5} {r['provider']:>28} "
              f"{r['images_per_second']:>10,.0f} {r['io_binding_images_per_second']:>10,.0f}")
    fell_back = [r for r in rows if r["provider"] != WANTED[args.provider]]

    cpu = InferenceEngine(bundle, "fp32", "cpu", threads=0)
    reference = {p: bundle.classes[i] for p, i in zip(
        paths, np.concatenate([cpu.run(pixels[i:i + 256]) for i in range(0, len(pixels), 256)])
        .argmax(1), strict=True)}
    labels = worker_labels(args.folder, args.provider, args.limit)
    same = sum(labels.get(p) == label for p, label in reference.items()) / len(reference)
    print(f"fp32 labels equal to ONNX Runtime on the CPU: {same:.4%} of {len(reference):,}")
    if fell_back:
        print(f"FAIL: asked for {WANTED[args.provider]}, ran on {fell_back[0]['provider']}")
    if same < 0.999:
        print("FAIL: fewer than 99.9 % of the labels agree")
    return 1 if fell_back or same < 0.999 else 0


if __name__ == "__main__":
    sys.exit(main())
