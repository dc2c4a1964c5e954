"""`labeler train`, `labeler export`, `labeler evaluate`."""

from __future__ import annotations

import json
from pathlib import Path

import click

from labeler.bundle import load_bundle
from labeler.errors import import_extra
from labeler.training.recipes import recipe_names


def _given_on_command_line() -> set[str]:
    """TrainConfig fields the user set, so a resume only warns about options really changed."""
    from click.core import ParameterSource

    ctx = click.get_current_context()
    names = {"lr": "peak_lr"}
    return {names.get(p, p) for p in ctx.params
            if ctx.get_parameter_source(p) in (ParameterSource.COMMANDLINE,
                                               ParameterSource.ENVIRONMENT)}


# The names of `training.models.PRESETS`, spelled out so that building the CLI's help does not
# import TensorFlow (tests/train/test_model_budget.py checks they agree).
PRESET_NAMES = ("whitened", "wrn16", "transfer")
# Fine-tuning a trained model: a tenth of the from-scratch peak, a few passes.
FINE_TUNE_EPOCHS, FINE_TUNE_LR = 5, 0.02
# Transfer: after the head, the top blocks of the ImageNet network at Adam's gentlest rates.
TRANSFER_EPOCHS, TRANSFER_LR = 5, 3e-4


@click.command()
@click.argument("data")
@click.option("--out", "out", type=click.Path(path_type=Path), required=True,
              help="Run folder: checkpoints, history, final model.")
@click.option("--recipe", type=click.Choice(recipe_names()),
              help="Make a shipped model again from its stored config (every stage and "
              "option is the recipe's; see docs/models.md).")
@click.option("--preset", type=click.Choice(PRESET_NAMES), default="whitened", show_default=True,
              help="whitened: airbench-style CNN, 32 px for tiny images, 64 px for photos; "
              "wrn16: Wide ResNet 16-2; transfer: ImageNet MobileNetV3Small at 224 px, for "
              "small sets of photos.")
@click.option("--epochs", type=click.IntRange(1), default=15, show_default=True,
              help="Length of the one-cycle schedule.")
@click.option("--batch-size", type=click.IntRange(1), default=64, show_default=True,
              help="Training batch size (256 from 10,000 images on).")
@click.option("--lr", type=float, default=0.2, show_default=True, help="Peak learning rate.")
@click.option("--image-size", type=click.IntRange(32, 512),
              help="Input side in pixels (default: fitted to the images).")
@click.option("--mixed-precision", is_flag=True,
              help="Compute in bfloat16: faster on CPUs with AMX or AVX-512 BF16 (see lscpu).")
@click.option("--teacher", "teachers", multiple=True, type=click.Path(exists=True),
              help="A trained .keras or a bundle to distil from (repeatable).")
@click.option("--seed", type=int, default=0, show_default=True,
              help="Seeds the held-out split, the order and the augmentation.")
@click.option("--limit", type=click.IntRange(1), help="Use only this many training images.")
@click.option("--weights", type=click.Path(exists=True, dir_okay=False),
              help="Transfer offline: the ImageNet weights file Keras would download.")
@click.option("--from", "start_from", type=click.Path(exists=True, file_okay=False),
              metavar="BUNDLE", help="Fine-tune this bundle's model instead of starting from "
              f"scratch ({FINE_TUNE_EPOCHS} epochs at peak rate {FINE_TUNE_LR} by default).")
@click.option("--resume", is_flag=True, help="Continue the run in --out from its checkpoint.")
def train(data, out, recipe, preset, epochs, batch_size, lr, image_size, mixed_precision,
          teachers, seed, limit, weights, start_from, resume) -> None:
    """Train a classifier on DATA: an image folder (train/<class>/..., and val/<class>/...
    if you have one), a manifest (.csv with path,label columns, as labeler reviewed writes),
    CIFAR-10 python batches, or 'keras' for keras.datasets.cifar10."""
    given = _given_on_command_line()
    if recipe:
        _train_recipe(data, out, recipe, given, resume)
        return
    if start_from:
        epochs = epochs if "epochs" in given else FINE_TUNE_EPOCHS
        lr = lr if "peak_lr" in given else FINE_TUNE_LR
    elif preset == "transfer":
        epochs = epochs if "epochs" in given else TRANSFER_EPOCHS
        lr = lr if "peak_lr" in given else TRANSFER_LR
    training = import_extra("labeler.training.train")
    config = training.TrainConfig(
        data=data, preset=preset, epochs=epochs, batch_size=batch_size, peak_lr=lr,
        mixed_precision=mixed_precision, teachers=list(teachers), seed=seed, limit=limit,
        weights=weights, image_size=image_size, start_from=start_from)
    summary = training.train(config, out, resume=resume, explicit=given)
    click.echo(json.dumps(summary, indent=2))


def _train_recipe(data: str, out: Path, name: str, given: set[str], resume: bool) -> None:
    extra = given - {"data", "out", "recipe", "resume"}
    if extra:
        raise click.UsageError(f"--recipe sets every option itself; leave out "
                               f"{', '.join('--' + o.replace('_', '-') for o in sorted(extra))}")
    import_extra("labeler.training.train")
    from labeler.training.recipes import load_recipe, train_recipe

    summary = train_recipe(load_recipe(name), data, out, resume=resume)
    click.echo(json.dumps(summary, indent=2))


def _precision_list(_ctx, _param, value: str) -> tuple[str, ...]:
    from labeler.bundle import PRECISIONS

    chosen = tuple(p.strip() for p in value.split(",") if p.strip())
    bad = [p for p in chosen if p not in PRECISIONS]
    if bad or not chosen:
        raise click.BadParameter(f"use a comma-separated subset of {','.join(PRECISIONS)}")
    return chosen


@click.command()
@click.argument("keras_model", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("-o", "--out", type=click.Path(path_type=Path), required=True,
              help="Bundle folder to write.")
@click.option("--precision", "precisions", default="fp32,int8", show_default=True,
              callback=_precision_list, help="Variants to export, e.g. fp32,fp16,int8 (int8, "
              "the CPU workers' default, ships only if it agrees with the model).")
@click.option("--name", help="Bundle name (default: the folder name).")
@click.option("--data", help="Training data (as for train): held-out images for the checks "
              "and INT8 calibration images. Default: the training run's data.")
@click.option("--eval", "eval_dir", type=click.Path(exists=True, file_okay=False,
              path_type=Path), help="Labelled image folder to measure accuracy on.")
@click.option("--flip-average/--no-flip-average", default=None,
              help="Average each image's logits with its mirror image's inside the graph: "
              "twice the multiply-adds, usually more accurate. Default: as the training run "
              "recommends (yes for photos).")
@click.option("--flip-below", type=click.FloatRange(0, 1, min_open=True), metavar="P",
              help="Average with the mirror image only the images whose calibrated "
              "confidence is below P (e.g. 0.9): most of --flip-average's gain for a second "
              "pass over the unsure images only.")
@click.option("--calibration-method", type=click.Choice(("minmax", "entropy", "percentile")),
              default="minmax", show_default=True,
              help="How int8 activation ranges are set from the calibration images.")
@click.option("--calibration-size", type=click.IntRange(16), default=512, show_default=True,
              help="Training images used to calibrate INT8.")
@click.option("--reduce-range/--no-reduce-range", default=True, show_default=True,
              help="7-bit INT8 weights: needed on CPUs without VNNI, harmless elsewhere.")
@click.option("--min-agreement-fp16", type=click.FloatRange(0, 1), default=0.99,
              show_default=True, help="Lowest top-1 agreement with Keras FP16 may ship with.")
@click.option("--min-agreement-int8", type=click.FloatRange(0, 1), default=0.98,
              show_default=True, help="Lowest top-1 agreement with Keras INT8 may ship with.")
def export(keras_model, out, precisions, name, data, eval_dir, flip_average, flip_below,
           calibration_method, calibration_size, reduce_range, min_agreement_fp16,
           min_agreement_int8) -> None:
    """Export KERAS_MODEL to an ONNX model bundle and check every variant against Keras."""
    from labeler.export.bundle_export import ExportOptions, export_bundle
    from labeler.export.variants import QuantizationConfig

    options = ExportOptions(
        precisions=precisions, name=name, data=data, eval_dir=eval_dir,
        quantization=QuantizationConfig(calibration_method, calibration_size,
                                        reduce_range=reduce_range),
        floors={"fp16": min_agreement_fp16, "int8": min_agreement_int8},
        flip_average=flip_average, flip_below=flip_below,
        # By default int8 comes along when it can, and is left out (not failed) when it misses
        # its floor; asked for by name, a variant that misses fails the export.
        optional=() if "precisions" in _given_on_command_line() else ("int8",),
    )
    meta = export_bundle(keras_model, out, options)
    click.echo((out / "export-report.md").read_text())
    for reason in meta.get("left_out", []):
        click.echo(f"left out: {reason}", err=True)
    click.echo(f"bundle written to {out}")


@click.command()
@click.argument("bundle", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.argument("folder", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option("--precision", default="fp32", show_default=True, help="Variant to evaluate.")
@click.option("--report", type=click.Path(path_type=Path),
              help="Folder for report.json, confusion.png and reliability.png.")
def evaluate(bundle, folder, precision, report) -> None:
    """Accuracy, per-class scores and calibration of BUNDLE on a labelled FOLDER."""
    from labeler.evaluation import evaluate_bundle

    loaded = load_bundle(bundle)
    result = evaluate_bundle(loaded, folder, precision)
    render_report(result, loaded.classes, report)


def render_report(result: dict, classes: tuple[str, ...], report: Path | None) -> None:
    from labeler.evaluation import write_report

    low, high = result["ece_95"]
    click.echo(f"top-1 {result['top1']:.2%} on {result['images']:,} images, "
               f"ECE {result['ece']:.2%} (15 bins; 95 % interval {low:.2%}-{high:.2%}) "
               f"({result['model']})")
    for row in result["per_class"]:
        click.echo(f"  {row['class']:12s} precision {row['precision']:.3f}  "
                   f"recall {row['recall']:.3f}  f1 {row['f1']:.3f}")
    if report:
        write_report(result, classes, report)
        click.echo(f"report written to {report}")


@click.command()
@click.argument("job_id")
@click.option("--model", type=click.Path(path_type=Path),
              help="Bundle whose class names the job used (default: the shipped one).")
@click.option("--report", type=click.Path(path_type=Path),
              help="Folder for report.json, confusion.png and reliability.png.")
def score(job_id, model, report) -> None:
    """Accuracy and calibration of JOB_ID's labels, taking each image's class from the folder
    it sits in (as in train/<class>/... or test/<class>/...)."""
    from labeler.context import Context
    from labeler.evaluation import score_job

    ctx = Context()
    ctx.store.require(job_id)
    classes = load_bundle(model or ctx.settings.model).classes
    render_report(score_job(ctx.store.iter_items(job_id), classes), classes, report)
