"""How well `labeler audit` finds planted label errors: a share of the labels flipped at random
(seeded) to another class, then the audit, then how many of its top-ranked images and of its
flagged set are real flips."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from labeler.manifest import write_manifest
from labeler.training.audit import audit, labelled_files


def bench_audit(source: str, work: Path, *, flip: float = 0.05, limit: int | None = None,
                folds: int = 3, seed: int = 0) -> dict:
    rng = np.random.default_rng(seed)
    files = labelled_files(source)
    if limit and limit < len(files):
        files = [files[i] for i in sorted(rng.choice(len(files), limit, replace=False))]
    classes = sorted({label for _path, label in files})
    planted = set(rng.choice(len(files), round(flip * len(files)), replace=False).tolist())
    noisy = [(path, str(rng.choice([c for c in classes if c != label])) if i in planted
              else label, "planted" if i in planted else "given")
             for i, (path, label) in enumerate(files)]
    manifest = work / "noisy.csv"
    write_manifest(noisy, manifest)
    started = time.perf_counter()
    suspects = audit(str(manifest), work / "audit.csv", work / "runs", folds=folds, seed=seed)
    flipped = {files[i][0] for i in planted}
    flagged = [s.path for s in suspects]
    top = flagged[:len(flipped)]
    found = len(flipped & set(flagged))
    return {"images": len(files), "planted": len(flipped), "flagged": len(flagged),
            "top_ranked": len(top),
            "top_ranked_real": round(len(flipped & set(top)) / max(1, len(top)), 3),
            "flagged_real": round(found / max(1, len(flagged)), 3),
            "planted_flagged": round(found / max(1, len(flipped)), 3),
            "minutes": round((time.perf_counter() - started) / 60, 1)}
