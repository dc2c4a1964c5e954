"""The model bundle: a folder of ONNX variants plus `bundle.json`, the one place that records
class names, input size, preprocessing, calibration and provenance.

    bundle.json      metadata (see `ModelBundle`)
    model.onnx       FP32, takes uint8 NHWC pixels, returns calibrated probabilities
    model.fp16.onnx  optional
    model.int8.onnx  optional
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path

from labeler.errors import BundleError

METADATA_FILE = "bundle.json"
PRECISIONS = ("fp32", "fp16", "int8")
FORMAT_VERSION = 1


@dataclass(frozen=True)
class Variant:
    file: str
    sha256: str
    bytes: int
    checks: dict = field(default_factory=dict)


@dataclass(frozen=True)
class ModelBundle:
    path: Path
    name: str
    classes: tuple[str, ...]
    height: int
    width: int
    variants: dict[str, Variant]
    temperature: float = 1.0
    metadata: dict = field(default_factory=dict)

    @property
    def input_size(self) -> tuple[int, int]:
        return self.height, self.width

    def variant_path(self, precision: str) -> Path:
        if precision not in self.variants:
            have = ", ".join(self.variants) or "none"
            raise BundleError(
                f"bundle {self.path} has no {precision} model (it has: {have}); "
                f"export one with: labeler export MODEL.keras -o {self.path} "
                f"--precision {precision}"
            )
        return self.path / self.variants[precision].file

    def verified_bytes(self, precision: str) -> bytes:
        """The variant's ONNX bytes, refused if they do not match the recorded SHA-256."""
        path = self.variant_path(precision)
        try:
            data = path.read_bytes()
        except OSError as exc:
            raise BundleError(f"cannot read {path}: {exc.strerror}") from None
        if hashlib.sha256(data).hexdigest() != self.variants[precision].sha256:
            raise BundleError(f"{path} does not match the SHA-256 recorded in {METADATA_FILE}")
        return data

    def model_id(self, precision: str) -> str:
        """Names the exact weights that produced a label: bundle name, precision, hash prefix."""
        return f"{self.name}:{precision}:{self.variants[precision].sha256[:12]}"


def load_bundle(path: str | Path) -> ModelBundle:
    path = Path(path)
    meta_path = path / METADATA_FILE
    if not meta_path.is_file():
        raise BundleError(f"no model bundle at {path} (missing {METADATA_FILE})")
    try:
        meta = json.loads(meta_path.read_text())
        variants = {k: Variant(**v) for k, v in meta["variants"].items()}
        return ModelBundle(
            path=path.resolve(),
            name=meta["name"],
            classes=tuple(meta["classes"]),
            height=int(meta["input"]["height"]),
            width=int(meta["input"]["width"]),
            variants=variants,
            temperature=float(meta.get("temperature", 1.0)),
            metadata=meta,
        )
    except (ValueError, KeyError, TypeError) as exc:
        raise BundleError(f"{meta_path} is not a valid bundle description ({exc!r})") from None


def describe_variant(path: Path, checks: dict | None = None) -> dict:
    data = path.read_bytes()
    return {
        "file": path.name,
        "sha256": hashlib.sha256(data).hexdigest(),
        "bytes": len(data),
        "checks": checks or {},
    }


def write_metadata(path: Path, meta: dict) -> None:
    meta = {"format": FORMAT_VERSION, **meta}
    (path / METADATA_FILE).write_text(json.dumps(meta, indent=2) + "\n")
