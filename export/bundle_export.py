"""Build a model bundle from a trained `.keras` file and prove each variant agrees with Keras.

Every asked-for precision is exported, checked (top-1 agreement and largest probability
difference against Keras on held-out images, accuracy on a labelled folder, size, CPU
throughput) and recorded in bundle.json and export-report.md. A variant below its agreement
floor is not shipped: its file is removed and the export fails after checking all of them.
"""

from __future__ import annotations

import json
import shutil
import time
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from labeler.bundle import PRECISIONS, describe_variant, load_bundle, write_metadata
from labeler.errors import LabelerError
from labeler.export.checks import agreement, throughput
from labeler.export.onnx_export import (
    INPUT_NAME,
    OPSET,
    OUTPUT_NAME,
    convert_to_onnx,
    keras_probabilities,
    load_keras_model,
)
from labeler.export.variants import QuantizationConfig, count_quantised_nodes, make_fp16, make_int8
from labeler.serving import Serving

FP32_TOLERANCE = 1e-4
# More confidences on the 8-bit grid than fp32 has, beyond this share, means a quantised output.
GRID_MARGIN = 0.01
FILES = {"fp32": "model.onnx", "fp16": "model.fp16.onnx", "int8": "model.int8.onnx"}
# state.json: the run's config, so a student can check which images a teacher bundle trained on.
TRAINING_ARTEFACTS = ("history.json", "curves.png", "calibration.json", "summary.json",
                      "classes.json", "state.json")


class ExportCheckError(LabelerError):
    """One or more variants failed their checks; the message lists every failure."""


@dataclass
class ExportOptions:
    precisions: tuple[str, ...] = ("fp32",)
    name: str | None = None
    data: str | None = None  # training data: held-out images for checks, calibration images
    eval_dir: Path | None = None
    quantization: QuantizationConfig = field(default_factory=QuantizationConfig)
    floors: dict[str, float] = field(default_factory=lambda: {"fp16": 0.99, "int8": 0.98})
    holdout: int = 1000
    # Average the logits of each image and its mirror inside the graph: twice the multiply-adds
    # for (typically) half a point or more of accuracy, calibrated with its own temperature.
    # None: as the training run recommends (its recipe for photos does, for every photo).
    flip_average: bool | None = None
    # The same, only for images whose calibrated confidence is below this: about the same gain
    # for a second pass over a fifth of the images (at 0.9, on CIFAR-10 validation).
    flip_below: float | None = None
    # Variants left out, not failed, when they miss their floor or cannot be made (no
    # calibration images): the defaults a user did not ask for by name.
    optional: tuple[str, ...] = ()


def export_bundle(keras_path: Path, out_dir: Path, options: ExportOptions | None = None) -> dict:
    options = options or ExportOptions()
    unknown = set(options.precisions) - set(PRECISIONS)
    if unknown:
        raise LabelerError(f"unknown precision {', '.join(sorted(unknown))}; "
                           f"choose from {', '.join(PRECISIONS)}")
    run = _read_run(keras_path.parent)
    model = load_keras_model(keras_path)
    height, width, channels = model.input_shape[1:]
    classes = run.get("classes") or [str(i) for i in range(model.output_shape[-1])]
    split = _training_split(options, run, (height, width))
    heldout, heldout_labels, calibration = _reference_images(options, split,
                                                             (height, width, channels))
    left_out = []
    if "int8" in options.precisions and calibration is None:
        if "int8" not in options.optional:
            raise LabelerError("int8 needs calibration images: pass --data with the training "
                               "data")
        left_out.append("int8: no training images known to calibrate it (pass --data)")
        options = replace(options, precisions=tuple(p for p in options.precisions
                                                    if p != "int8"))
    serving = _serving(model, run, split, options)
    name = options.name or out_dir.name
    out_dir.mkdir(parents=True, exist_ok=True)
    for stale in FILES.values():
        (out_dir / stale).unlink(missing_ok=True)

    fp32_path = out_dir / FILES["fp32"]
    convert_to_onnx(model, serving, fp32_path, _graph_metadata(name, classes, serving))
    reference = keras_probabilities(model, heldout, serving)
    paths = {"fp32": fp32_path}
    if "fp16" in options.precisions:
        make_fp16(fp32_path, paths.setdefault("fp16", out_dir / FILES["fp16"]))
    if "int8" in options.precisions:
        make_int8(fp32_path, paths.setdefault("int8", out_dir / FILES["int8"]), calibration,
                  options.quantization)

    speeds = throughput(paths, heldout)
    variants, failures = {}, []
    for precision, path in paths.items():
        checks = {**agreement(path, heldout, reference, heldout_labels),
                  "cpu_images_per_second_batch64": round(speeds[precision], 1)}
        if precision == "int8":
            checks["quantization"] = options.quantization.as_dict()
            checks["nodes"] = count_quantised_nodes(path)
        failure = _failed_floor(precision, checks, options.floors, variants.get("fp32"))
        if failure:
            (left_out if precision in options.optional else failures).append(failure)
            path.unlink()
            continue
        variants[precision] = describe_variant(path, checks)

    meta = {
        "name": name,
        "classes": classes,
        "input": {"height": height, "width": width, "channels": channels,
                  "dtype": "uint8", "layout": "NHWC", "name": INPUT_NAME},
        "output": {"name": OUTPUT_NAME, "kind": "probabilities"},
        "preprocessing": {"decode": "labeler.imaging.decode_image", "resize": "bilinear",
                          "scaling": "inside the graph"},
        **serving.as_metadata(),
        **_cost_figures(run, serving, model, heldout),
        "opset": OPSET,
        "variants": variants,
        **({"left_out": left_out} if left_out else {}),
        "training": run.get("summary", {}),
        "source": {"keras": keras_path.name, "checks_on": _describe_source(split)},
        "exported": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    _copy_training_artefacts(keras_path, out_dir)
    write_metadata(out_dir, meta)
    if options.eval_dir is not None and variants:
        meta["metrics"] = _evaluate(out_dir, options.eval_dir, variants)
        write_metadata(out_dir, meta)
    (out_dir / "export-report.md").write_text(render_report(meta))
    if failures:
        raise ExportCheckError("; ".join(failures))
    return meta


def _failed_floor(precision: str, checks: dict, floors: dict[str, float],
                  fp32: dict | None) -> str | None:
    if precision == "fp32":
        if checks["max_abs_diff"] > FP32_TOLERANCE:
            return (f"fp32 disagrees with Keras: max |Δp| {checks['max_abs_diff']:.2e} "
                    f"> {FP32_TOLERANCE:.0e}")
        return None
    on_grid = checks["confidences_on_8bit_grid"]
    fp32_on_grid = fp32["checks"]["confidences_on_8bit_grid"] if fp32 else 0.0
    if on_grid > fp32_on_grid + GRID_MARGIN:
        return (f"{precision} serves quantised probabilities: {on_grid:.1%} of its confidences "
                f"lie on a 1/255 grid (fp32: {fp32_on_grid:.1%}); not shipped")
    floor = floors.get(precision, 0.0)
    if checks["top1_agreement"] < floor:
        return (f"{precision} top-1 agreement with Keras {checks['top1_agreement']:.2%} is "
                f"below its floor {floor:.0%}; not shipped")
    return None


def _graph_metadata(name: str, classes: list[str], serving: Serving) -> dict:
    return {
        "labeler.name": name, "labeler.classes": classes, "labeler.input_layout": "NHWC",
        "labeler.input_dtype": "uint8",
        "labeler.preprocessing": "RGB, resized to input; scaling inside the graph",
        **{f"labeler.{k}": str(v) for k, v in serving.as_metadata().items()},
    }


def _training_split(options: ExportOptions, run: dict, size: tuple[int, int]):
    """The training run's (train, validation) split, or None when no training data is known."""
    source = options.data or run.get("state", {}).get("config", {}).get("data")
    if not source:
        return None
    from labeler.splits import held_out_split

    config = run.get("state", {}).get("config", {})
    split = held_out_split(source, size, config.get("val_fraction", 0.1), config.get("seed", 0),
                           tuple(run["classes"]) if run.get("classes") else None)
    return split.train, split.held_out


def _reference_images(options: ExportOptions, split, shape: tuple[int, int, int]):
    """Held-out images and their labels (from the validation split) and calibration images
    (from the training split); random pixels and no labels when no training data is known."""
    if split is None:
        noise = np.random.default_rng(0).integers(0, 256, (256, *shape), dtype=np.uint8)
        return noise, None, None
    train, val = split
    rng = np.random.default_rng(1)
    # A run that held out nothing is checked on its training images: the checks compare the
    # ONNX variants with Keras on the same pixels, which need not be unseen.
    checked = val if len(val) else train
    chosen = rng.permutation(len(checked))[: options.holdout]
    pick = rng.permutation(len(train))[: options.quantization.size]
    return checked.pixels[chosen], checked.labels[chosen], train.pixels[pick]


def _serving(model, run: dict, split, options: ExportOptions) -> Serving:
    """The run's validation-fitted temperature, and for a mirror average the one fitted on
    averaged logits (recorded by training, or fitted here on the same validation split)."""
    if options.flip_average and options.flip_below is not None:
        raise LabelerError("choose one of --flip-average (every image) and --flip-below "
                           "(only the images the model is unsure of)")
    calibration = run.get("calibration", {})
    temperature = float(calibration.get("temperature", 1.0))
    if options.flip_average is None:
        # The run's own advice, unless the command line gave one: a recipe's, or "always" for
        # photos.
        summary = run.get("summary", {})
        below = summary.get("export", {}).get("flip_below")
        if options.flip_below is None and below is not None:
            options = replace(options, flip_below=float(below))
        recommended = summary.get("second_look") == "always"
        options = replace(options, flip_average=recommended and options.flip_below is None)
    if not options.flip_average and options.flip_below is None:
        return Serving(temperature)
    mirror_temperature = _mirror_temperature(model, calibration, split)
    if options.flip_average:
        return Serving(temperature, "always", mirror_temperature)
    return Serving(temperature, "unsure", mirror_temperature, options.flip_below)


def _mirror_temperature(model, calibration: dict, split) -> float:
    if "flip_average" in calibration:
        return float(calibration["flip_average"]["temperature"])
    if split is None or not len(split[1]):
        raise LabelerError("a mirror average needs the training data's validation split to "
                           "fit its temperature: pass --data")
    from labeler.metrics import calibrate
    from labeler.training.keras_reference import predict_logits

    _, val = split
    return calibrate(predict_logits(model, val.pixels, flip_average=True), val.labels)[
        "temperature"]


def _cost_figures(run: dict, serving: Serving, model, heldout: np.ndarray) -> dict:
    """The most an image can cost, and for `unsure` the share of checked images that took the
    second pass (what the typical cost is)."""
    per_pass = run.get("summary", {}).get("multiply_adds")
    figures = {"multiply_adds_per_image": per_pass * serving.passes_at_most if per_pass
               else None}
    if serving.mirror == "unsure":
        from labeler.metrics import softmax
        from labeler.training.keras_reference import predict_logits

        plain = softmax(predict_logits(model, heldout, batch_size=256), serving.temperature)
        figures["mirrored_share_of_checked_images"] = round(
            float(serving.unsure(plain).mean()), 4)
    return figures


def _describe_source(split) -> str:
    if split is None:
        return "random pixels (no training data given)"
    if not len(split[1]):
        return "training images (the run held out none); calibration from the same split"
    return "held-out validation split of the training data; calibration from its train split"


def _evaluate(out_dir: Path, eval_dir: Path, variants: dict) -> dict:
    from labeler.evaluation import evaluate_bundle

    bundle = load_bundle(out_dir)
    metrics = {}
    for precision in variants:
        report = evaluate_bundle(bundle, eval_dir, precision=precision)
        metrics[precision] = {"dataset": eval_dir.name, "top1": report["top1"],
                              "ece": report["ece"], "images": report["images"]}
    return metrics


def render_report(meta: dict) -> str:
    lines = [f"# Export report: {meta['name']}", "",
             f"Checks on {meta['source']['checks_on']}.", "",
             "| precision | size MB | top-1 agreement with Keras | max abs Δp | median abs Δp "
             "| on 1/255 grid | check ECE | CPU img/s (batch 64) | accuracy |",
             "| --- | --- | --- | --- | --- | --- | --- | --- | --- |"]
    for precision, variant in meta["variants"].items():
        checks = variant["checks"]
        accuracy = meta.get("metrics", {}).get(precision, {}).get("top1")
        ece = checks.get("ece")
        lines.append(
            f"| {precision} | {variant['bytes'] / 1e6:.2f} | {checks['top1_agreement']:.2%} | "
            f"{checks['max_abs_diff']:.2e} | {checks.get('median_abs_diff', 0):.2e} | "
            f"{checks.get('confidences_on_8bit_grid', 0):.1%} | "
            f"{'' if ece is None else f'{ece:.2%}'} | "
            f"{checks['cpu_images_per_second_batch64']:,.0f} | "
            f"{'' if accuracy is None else f'{accuracy:.2%}'} |")
    return "\n".join(lines) + "\n"


def _copy_training_artefacts(keras_path: Path, out_dir: Path) -> None:
    """The bundle keeps the Keras model and its training record beside the ONNX files."""
    target = out_dir / "training"
    target.mkdir(exist_ok=True)
    # Loaded uncompiled and saved again: the optimizer's state (as large as the weights) is for
    # resuming a run, not for the reference model a bundle carries.
    load_keras_model(keras_path).save(target / "model.keras")
    for name in TRAINING_ARTEFACTS:
        if (keras_path.parent / name).is_file():
            shutil.copy2(keras_path.parent / name, target / name)


def _read_run(run_dir: Path) -> dict:
    run = {}
    for key, file in (("classes", "classes.json"), ("calibration", "calibration.json"),
                      ("summary", "summary.json"), ("state", "state.json")):
        if (run_dir / file).is_file():
            run[key] = json.loads((run_dir / file).read_text())
    return run
