"""Build a model bundle from a trained `.keras` file and prove it agrees with Keras."""

from __future__ import annotations

import json
import shutil
import time
from pathlib import Path

import numpy as np

from labeler.bundle import describe_variant, load_bundle, write_metadata
from labeler.errors import LabelerError
from labeler.export.onnx_export import (
    INPUT_NAME,
    OPSET,
    OUTPUT_NAME,
    convert_to_onnx,
    keras_probabilities,
    load_keras_model,
)

FP32_TOLERANCE = 1e-4


def export_bundle(
    keras_path: Path,
    out_dir: Path,
    name: str | None = None,
    eval_dir: Path | None = None,
    check_images: np.ndarray | None = None,
) -> dict:
    """Export FP32 ONNX into `out_dir`, check it against Keras, and write bundle.json."""
    run = _read_run(keras_path.parent)
    model = load_keras_model(keras_path)
    height, width, channels = model.input_shape[1:]
    classes = run.get("classes") or [str(i) for i in range(model.output_shape[-1])]
    temperature = float(run.get("calibration", {}).get("temperature", 1.0))
    name = name or out_dir.name
    out_dir.mkdir(parents=True, exist_ok=True)
    graph_meta = {
        "labeler.name": name, "labeler.classes": classes, "labeler.input_layout": "NHWC",
        "labeler.input_dtype": "uint8", "labeler.temperature": str(temperature),
        "labeler.preprocessing": "RGB, resized to input; scaling inside the graph",
    }
    convert_to_onnx(model, temperature, out_dir / "model.onnx", graph_meta)

    if check_images is None:
        check_images = np.random.default_rng(0).integers(
            0, 256, (64, height, width, channels), dtype=np.uint8)
    checks = _parity(model, out_dir / "model.onnx", check_images, temperature)
    if checks["max_abs_diff"] > FP32_TOLERANCE:
        raise LabelerError(
            f"FP32 ONNX disagrees with Keras: max |p_onnx - p_keras| = "
            f"{checks['max_abs_diff']:.2e} > {FP32_TOLERANCE:.0e}"
        )
    meta = {
        "name": name,
        "classes": classes,
        "input": {"height": height, "width": width, "channels": channels,
                  "dtype": "uint8", "layout": "NHWC", "name": INPUT_NAME},
        "output": {"name": OUTPUT_NAME, "kind": "probabilities"},
        "preprocessing": {"decode": "labeler.imaging.decode_image", "resize": "bilinear",
                          "scaling": "inside the graph"},
        "temperature": temperature,
        "opset": OPSET,
        "variants": {"fp32": describe_variant(out_dir / "model.onnx", checks)},
        "training": run.get("summary", {}),
        "source": {"keras": keras_path.name},
        "exported": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    _copy_training_artefacts(keras_path, out_dir)
    write_metadata(out_dir, meta)
    if eval_dir is not None:
        from labeler.training.evaluate import evaluate_bundle

        report = evaluate_bundle(load_bundle(out_dir), eval_dir, precision="fp32")
        meta["metrics"] = {"fp32": {"dataset": str(eval_dir), "top1": report["top1"],
                                    "ece": report["ece"], "images": report["images"]}}
        write_metadata(out_dir, meta)
    return meta


TRAINING_ARTEFACTS = ("history.json", "curves.png", "calibration.json", "summary.json")


def _copy_training_artefacts(keras_path: Path, out_dir: Path) -> None:
    """The bundle keeps the Keras model and its training record beside the ONNX files."""
    target = out_dir / "training"
    target.mkdir(exist_ok=True)
    shutil.copy2(keras_path, target / "model.keras")
    for name in TRAINING_ARTEFACTS:
        if (keras_path.parent / name).is_file():
            shutil.copy2(keras_path.parent / name, target / name)


def _read_run(run_dir: Path) -> dict:
    run = {}
    for key, file in (("classes", "classes.json"), ("calibration", "calibration.json"),
                      ("summary", "summary.json")):
        if (run_dir / file).is_file():
            run[key] = json.loads((run_dir / file).read_text())
    return run


def _parity(model, onnx_path: Path, pixels: np.ndarray, temperature: float) -> dict:
    import onnxruntime as ort

    session = ort.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])
    onnx_probs = session.run(None, {INPUT_NAME: pixels})[0]
    keras_probs = keras_probabilities(model, pixels, temperature)
    return {
        "images": int(len(pixels)),
        "max_abs_diff": float(np.abs(onnx_probs - keras_probs).max()),
        "top1_agreement": float((onnx_probs.argmax(1) == keras_probs.argmax(1)).mean()),
    }
