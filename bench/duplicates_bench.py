"""Near-duplicate search, measured: copies planted among a folder's images (re-encoded,
resized, cropped, brightened, mirrored), labelled by a real job on local workers with a Redis
of its own, then grouped as `labeler duplicates` groups them. Also what the signature costs a
worker per image (in this process, per CPU second, interleaved with the decode and inference it
rides on) and the search over a million distinct signatures (time, peak memory)."""

from __future__ import annotations

import io
import json
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import replace
from itertools import combinations
from pathlib import Path

import numpy as np
from PIL import Image, ImageEnhance, ImageOps

from labeler.bench.million import peak_resident_kb
from labeler.bundle import ModelBundle
from labeler.context import Context
from labeler.engine import InferenceEngine
from labeler.imaging import decode_image
from labeler.job_duplicates import job_duplicates
from labeler.local_workers import stop_local
from labeler.redis_server import ensure_redis
from labeler.scan import scan_images
from labeler.settings import Settings
from labeler.signature import signatures
from labeler.waiting import submit_and_wait

KINDS = ("reencode", "resize", "crop", "brighten", "mirror")


def transformed(data: bytes, kind: str, rng: random.Random) -> bytes:
    """A copy of an image that should count as the same photo."""
    image = Image.open(io.BytesIO(data)).convert("RGB")
    quality = rng.randint(30, 70) if kind == "reencode" else 90
    if kind == "resize":
        factor = rng.choice([0.5, 2, 3, 4])
        image = image.resize((max(8, round(image.width * factor)),
                              max(8, round(image.height * factor))), Image.Resampling.BICUBIC)
    elif kind == "crop":  # up to 5 % off each side
        w, h = image.size
        image = image.crop((rng.randint(0, w // 20), rng.randint(0, h // 20),
                            w - rng.randint(0, w // 20), h - rng.randint(0, h // 20)))
    elif kind == "brighten":
        image = ImageEnhance.Brightness(image).enhance(rng.uniform(1.15, 1.4))
    elif kind == "mirror":
        image = ImageOps.mirror(image)
    out = io.BytesIO()
    image.save(out, "JPEG", quality=quality)
    return out.getvalue()


def plant(folder: Path, into: Path, limit: int, copies: int, seed: int) -> dict[str, tuple]:
    """Up to `limit` of `folder`'s images and `copies` transformed copies of some of them under
    `into`; each path's (source path, kind), the originals' kind being None."""
    rng = random.Random(seed)
    files = [f.path for f in scan_images(folder)][:limit]
    origin: dict[str, tuple] = {}
    for rel in files:
        (into / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(folder / rel, into / rel)
        origin[rel] = (rel, None)
    for n, rel in enumerate(rng.sample(files, min(copies, len(files)))):
        kind = KINDS[n % len(KINDS)]
        name = f"planted/{n:05d}-{kind}.jpg"
        (into / name).parent.mkdir(parents=True, exist_ok=True)
        (into / name).write_bytes(transformed((folder / rel).read_bytes(), kind, rng))
        origin[name] = (rel, kind)
    return origin


def score_groups(groups: list[list[str]], origin: dict[str, tuple]) -> dict:
    """Planted copies found (in one group with their original), by kind, and the share of
    grouped pairs that are one photo; pairs of two originals are counted apart (a photo set
    may hold near-copies of its own)."""
    where = {path: n for n, group in enumerate(groups) for path in group}
    found = {kind: [0, 0] for kind in KINDS}
    for path, (source, kind) in origin.items():
        if kind:
            found[kind][1] += 1
            found[kind][0] += where.get(path, -1) == where.get(source, -2)
    right = wrong = originals = 0
    for group in groups:
        for a, b in combinations(group, 2):
            if origin[a][0] == origin[b][0]:
                right += 1
            elif origin[a][1] is None and origin[b][1] is None:
                originals += 1
            else:
                wrong += 1
    planted = sum(n for _, n in found.values())
    return {
        "planted": planted,
        "recall": round(sum(f for f, _ in found.values()) / max(1, planted), 4),
        "recall_by_kind": {k: round(f / max(1, n), 3) for k, (f, n) in found.items()},
        "pairs_right": right, "pairs_wrong": wrong, "pairs_between_originals": originals,
        "precision": round(right / max(1, right + wrong + originals), 4),
        "precision_without_originals": round(right / max(1, right + wrong), 4),
    }


def signature_overhead(files: list[Path], bundle: ModelBundle, rounds: int = 5) -> dict:
    """CPU seconds per image of decode + inference (batches of 64, one thread) and of the
    signature of the same batches, interleaved; the median of `rounds`."""
    engine = InferenceEngine(bundle, threads=1)
    size = bundle.input_size
    work, extra = [], []
    for _ in range(rounds):
        clock = time.process_time()
        batches = []
        for start in range(0, len(files), 64):
            batch = np.stack([decode_image(f, size) for f in files[start:start + 64]])
            engine.run(batch)
            batches.append(batch)
        work.append((time.process_time() - clock) / len(files))
        clock = time.process_time()
        for batch in batches:
            signatures(batch)
        extra.append((time.process_time() - clock) / len(files))
    base, added = statistics.median(work), statistics.median(extra)
    return {"precision": engine.precision, "decode_infer_us": round(base * 1e6, 1),
            "signature_us": round(added * 1e6, 2), "overhead": round(added / base, 4)}


def search_million(count: int, seed: int = 0) -> dict:
    """`find_groups` over `count` distinct random signatures with 1,000 planted near copies,
    in a process of its own: seconds and its peak resident memory."""
    clock = time.perf_counter()
    process = subprocess.Popen(
        [sys.executable, "-P", "-m", "labeler.bench.duplicates_bench", str(count), str(seed)],
        stdout=subprocess.PIPE)
    peak = 0
    while process.poll() is None:
        peak = max(peak, peak_resident_kb(process.pid))
        time.sleep(0.05)
    found = json.loads(process.stdout.read() or b"{}")
    return {"signatures": count, "seconds": round(time.perf_counter() - clock, 1),
            "max_resident_mb": round(peak / 1024, 1), **found}


def bench_duplicates(settings: Settings, folder: Path, bundle: ModelBundle, *, limit: int,
                     copies: int, million: int, seed: int = 0) -> dict:
    home = Path(tempfile.mkdtemp(prefix="labeler-duplicates-"))
    ctx = Context(replace(settings, home=home, redis_url=None, worker_idle_exit=0))
    try:
        origin = plant(folder, home / "images", limit, copies, seed)
        ensure_redis(home, "1gb")
        job, final = submit_and_wait(ctx, home / "images", bundle)
        clock = time.perf_counter()
        found = job_duplicates(ctx.store, job.job_id)  # every row: the bench scores them all
        search = time.perf_counter() - clock
        groups: dict[int, list[str]] = {}
        for row in found.rows:
            groups.setdefault(row.group, []).append(row.path)
        files = [home / "images" / p for p in list(origin)[:2000]]
        return {
            "images": final.total, "labelled": final.labelled, "groups": found.groups,
            "search_seconds": round(search, 2),
            "signature_redis_bytes_per_image": round(
                ctx.store.signature_memory(job.job_id) / final.total, 2),
            **score_groups(list(groups.values()), origin),
            "worker_cpu": signature_overhead(files, bundle),
            "million": search_million(million, seed) if million else None,
        }
    finally:
        stop_local(ctx.fleet, ctx.settings, grace=10)
        shutil.rmtree(home, ignore_errors=True)


def _search_only(count: int, seed: int) -> dict:
    from labeler.duplicates import find_groups

    rng = np.random.default_rng(seed)
    rows = rng.integers(0, 256, (count, 8), dtype=np.uint8)
    rows[:, 0] |= 0x80  # the signature's presence bit
    near = rows[:1000].copy()
    bits = rng.integers(8, 64, (1000, 4))  # not the first byte, which holds the presence bit
    for row, flips in zip(near, bits, strict=True):
        for bit in flips:
            row[bit // 8] ^= np.uint8(1 << (bit % 8))
    rows[-1000:] = near
    found = find_groups(rows)
    planted = sum(1 for g in found.groups if g[0] < 1000 and g[-1] >= count - 1000)
    return {"groups": len(found.groups), "planted_found": planted}


if __name__ == "__main__":
    print(json.dumps(_search_only(int(sys.argv[1]), int(sys.argv[2]))))
