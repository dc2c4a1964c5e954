"""The inference engine alone: each precision x batch size x provider, and Keras `predict` on
the same model as the reference when TensorFlow is installed."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from labeler.bench.timing import time_repeated
from labeler.bundle import ModelBundle
from labeler.engine import CUDA, InferenceEngine, gpu_present
from labeler.serving import Serving

BATCH_SIZES = (1, 8, 32, 128, 512)


def available_providers() -> list[str]:
    """A GPU with a CPU-only onnxruntime (seen on an H200 host) is benchmarked on the CPU only."""
    import onnxruntime as ort

    cuda = gpu_present() and CUDA in ort.get_available_providers()
    return ["cpu", "cuda"] if cuda else ["cpu"]


def bench_model(bundle: ModelBundle, batch_sizes=BATCH_SIZES, precisions=None, providers=None,
                *, keras: bool = True, threads: int = 0,
                progress: Callable[[str], None] = lambda s: None) -> list[dict]:
    rng = np.random.default_rng(0)
    rows = []
    for provider in providers or available_providers():
        for precision in precisions or list(bundle.variants):
            engine = InferenceEngine(bundle, precision, provider, threads)
            for batch in batch_sizes:
                progress(f"{provider} {precision} batch {batch}")
                pixels = rng.integers(0, 256, (batch, *bundle.input_size, 3), dtype=np.uint8)
                rows.append(_row("onnxruntime", engine.providers[0], precision, batch,
                                 time_repeated(lambda e=engine, p=pixels: e.run(p))))
    if keras:
        rows += _bench_keras(bundle, batch_sizes, rng, progress)
    return rows


def _bench_keras(bundle, batch_sizes, rng, progress) -> list[dict]:
    """Keras `predict` on the bundle's own Keras model, when the [train] extra is installed."""
    try:
        from labeler.training.keras_reference import keras_predictor
    except ImportError:
        return []
    predict = keras_predictor(bundle.path / "training" / "model.keras",
                              Serving.from_metadata(bundle.metadata))
    if predict is None:
        return []
    rows = []
    for batch in batch_sizes:
        progress(f"keras predict batch {batch}")
        pixels = rng.integers(0, 256, (batch, *bundle.input_size, 3)).astype(np.float32)
        stats = time_repeated(lambda p=pixels: predict(p), repeats=3, warmup=1)
        rows.append(_row("keras-predict", "tensorflow-cpu", "fp32", batch, stats))
    return rows


def _row(engine: str, provider: str, precision: str, batch: int, stats: dict) -> dict:
    return {"engine": engine, "provider": provider, "precision": precision, "batch": batch,
            "ms_per_batch": round(stats["median_s"] * 1000, 3),
            "ms_p10": round(stats["p10_s"] * 1000, 3), "ms_p90": round(stats["p90_s"] * 1000, 3),
            "images_per_second": round(batch / stats["median_s"], 1)}
