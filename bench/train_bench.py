"""Training step time under each compute policy: whether `labeler train --mixed-precision`
pays on this CPU (bfloat16 is fast only where the CPU has AMX or AVX-512 BF16)."""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from pathlib import Path

import numpy as np

from labeler.bench.timing import time_repeated
from labeler.training.models import PRESETS
from labeler.training.train import TrainConfig, compile_for_training, compute_policy

BF16_CPU_FLAGS = ("amx_bf16", "avx512_bf16")
POLICIES = {"fp32": "float32", "bf16": "mixed_bfloat16"}


def cpu_bf16_flags(cpuinfo: Path = Path("/proc/cpuinfo")) -> list[str]:
    """The bfloat16 instruction sets this CPU announces ([] where /proc/cpuinfo is absent)."""
    try:
        text = cpuinfo.read_text()
    except OSError:
        return []
    flags = set().union(*(line.split(":", 1)[1].split() for line in text.splitlines()
                          if line.startswith("flags")))
    return [flag for flag in BF16_CPU_FLAGS if flag in flags]


def bench_train(preset: str = "whitened", batch_size: int = 256, repeats: int = 10,
                progress: Callable[[str], None] = lambda _: None) -> list[dict]:
    """ms per training step (forward, backward, update) of `preset` on random 32x32 images,
    in float32 and in mixed bfloat16, one after the other in this process."""
    if preset not in PRESETS or preset == "transfer":
        raise ValueError(f"cannot time preset {preset!r}")
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (batch_size, 32, 32, 3)).astype(np.float32)
    targets = np.eye(10, dtype=np.float32)[rng.integers(0, 10, batch_size)]
    rows = []
    for label, policy in POLICIES.items():
        progress(f"{preset} {label} batch {batch_size}")
        with compute_policy(policy):
            model = PRESETS[preset]((32, 32, 3), 10)
            compile_for_training(model, TrainConfig(data="", preset=preset, peak_lr=0.01))
            timing = time_repeated(partial(model.train_on_batch, images, targets),
                                   repeats=repeats, min_seconds=0, warmup=3)
        rows.append({"preset": preset, "compute": label, "batch": batch_size,
                     "ms_per_step": round(timing["median_s"] * 1000, 1),
                     "ms_p10": round(timing["p10_s"] * 1000, 1),
                     "ms_p90": round(timing["p90_s"] * 1000, 1),
                     "images_per_second": round(batch_size / timing["median_s"], 1)})
    for row in rows:
        row["speedup"] = round(rows[0]["ms_per_step"] / row["ms_per_step"], 2)
    return rows
