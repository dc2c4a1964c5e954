"""Fault injection with real processes: a ledger of what was submitted, a fault, a drain,
then reconciliation: lost = submitted - (labelled | failed) must be empty."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from labeler.scan import scan_images
from labeler.store import JobStore

# Many small chunks, so a fault always lands mid-chunk. The visibility timeout stays at its
# default (minutes): recovery must not wait for it.
SMALL_CHUNKS = {"LABELER_CHUNK_IMAGES": "20"}
# From a fault to the job done, on the 2-core machines the suite runs on.
RECOVERY_SECONDS = 60


@pytest.fixture(scope="package")
def heavy_folder(tmp_path_factory) -> Path:
    """1,200 PNGs of 480x360: slow enough to decode that a job lasts several seconds."""
    root = tmp_path_factory.mktemp("heavy")
    y, x = np.mgrid[0:360, 0:480]
    rng = np.random.default_rng(0)
    base = np.stack([x % 256, y % 256, (x + y) % 256], axis=-1).astype(np.uint8)
    first = root / "a" / "0000.png"
    first.parent.mkdir()
    Image.fromarray(base + rng.integers(0, 8, base.shape, dtype=np.uint8)).save(first)
    for i in range(1, 1200):
        target = root / "abc"[i % 3] / f"{i:04d}.png"
        target.parent.mkdir(exist_ok=True)
        shutil.copyfile(first, target)
    return root


def ledger(folder: Path) -> set[str]:
    return {f.path for f in scan_images(folder)}


def reconcile(store: JobStore, job_id: str, submitted: set[str]) -> dict:
    items = list(store.iter_items(job_id))
    seen = [path for path, _, _ in items]
    return {
        "lost": submitted - set(seen),
        "unexpected": set(seen) - submitted,
        "duplicates": len(seen) - len(set(seen)),
        "failed": {path: error for path, _, error in items if error},
    }


def pool_children(pid: int) -> list[int]:
    out = subprocess.run(["ps", "-o", "pid=", "--ppid", str(pid)], capture_output=True,
                         text=True).stdout
    return [int(p) for p in out.split()]
