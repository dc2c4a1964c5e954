"""`labeler train`, `labeler export`, `labeler evaluate`."""

from __future__ import annotations

import json
from pathlib import Path

import click

from labeler.bundle import load_bundle


@click.command()
@click.argument("data")
@click.option("--preset", type=click.Choice(("baseline", "resnet")), default="resnet",
              show_default=True)
@click.option("--out", "out", type=click.Path(path_type=Path), required=True,
              help="Run folder: checkpoints, history, final model.")
@click.option("--epochs", type=click.IntRange(1), default=24, show_default=True)
@click.option("--batch-size", type=click.IntRange(1), default=256, show_default=True)
@click.option("--lr", type=float, default=0.2, show_default=True, help="Peak learning rate.")
@click.option("--cutout", type=click.IntRange(0), default=8, show_default=True)
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--limit", type=click.IntRange(1), help="Use only this many training images.")
@click.option("--resume", is_flag=True, help="Continue the run in --out from its checkpoint.")
def train(data, preset, out, epochs, batch_size, lr, cutout, seed, limit, resume) -> None:
    """Train a classifier on DATA: an image folder (train/<class>/...), CIFAR-10 python
    batches, or 'keras' for keras.datasets.cifar10."""
    from labeler.errors import MissingExtraError

    try:
        from labeler.training.train import TrainConfig
        from labeler.training.train import train as run_training
    except ImportError as exc:
        raise MissingExtraError("train", exc.name or "tensorflow") from None
    config = TrainConfig(data=data, preset=preset, epochs=epochs, batch_size=batch_size,
                         peak_lr=lr, cutout=cutout, seed=seed, limit=limit)
    summary = run_training(config, out, resume=resume)
    click.echo(json.dumps(summary, indent=2))


@click.command()
@click.argument("keras_model", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("-o", "--out", type=click.Path(path_type=Path), required=True,
              help="Bundle folder to write.")
@click.option("--name", help="Bundle name (default: the folder name).")
@click.option("--eval", "eval_dir", type=click.Path(exists=True, file_okay=False,
              path_type=Path), help="Labelled image folder to measure accuracy on.")
def export(keras_model, out, name, eval_dir) -> None:
    """Export KERAS_MODEL to an ONNX model bundle and check it against Keras."""
    from labeler.export.bundle_export import export_bundle

    meta = export_bundle(keras_model, out, name=name, eval_dir=eval_dir)
    for precision, variant in meta["variants"].items():
        checks = variant["checks"]
        click.echo(f"{precision}: {variant['file']} {variant['bytes'] / 1e6:.2f} MB, "
                   f"max |Δp| vs Keras {checks['max_abs_diff']:.1e}, "
                   f"top-1 agreement {checks['top1_agreement']:.2%}")
    for precision, metrics in meta.get("metrics", {}).items():
        click.echo(f"{precision}: top-1 {metrics['top1']:.2%} on {metrics['images']:,} images")
    click.echo(f"bundle written to {out}")


@click.command()
@click.argument("bundle", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.argument("folder", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option("--precision", default="fp32", show_default=True)
@click.option("--report", type=click.Path(path_type=Path),
              help="Folder for report.json, confusion.png and reliability.png.")
def evaluate(bundle, folder, precision, report) -> None:
    """Accuracy, per-class scores and calibration of BUNDLE on a labelled FOLDER."""
    from labeler.training.evaluate import evaluate_bundle, write_report

    result = evaluate_bundle(load_bundle(bundle), folder, precision)
    click.echo(f"top-1 {result['top1']:.2%} on {result['images']:,} images, "
               f"ECE {result['ece']:.2%} ({result['model']})")
    for row in result["per_class"]:
        click.echo(f"  {row['class']:12s} precision {row['precision']:.3f}  "
                   f"recall {row['recall']:.3f}  f1 {row['f1']:.3f}")
    if report:
        write_report(result, load_bundle(bundle).classes, report)
        click.echo(f"report written to {report}")
