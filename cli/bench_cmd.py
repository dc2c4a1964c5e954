"""`labeler bench model|decode|pipeline|train`."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import click

from labeler.bundle import PRECISIONS, load_bundle
from labeler.cli.model_cmd import PRESET_NAMES
from labeler.cli.progress import ProgressPrinter
from labeler.context import Context
from labeler.errors import import_extra


def _render(rows: list[dict], columns: list[str], *, as_json: bool) -> None:
    if as_json:
        click.echo(json.dumps(rows, indent=2))
        return
    widths = [max(len(c), *(len(str(r.get(c, ""))) for r in rows)) for c in columns]
    click.echo("  ".join(c.rjust(w) for c, w in zip(columns, widths, strict=True)))
    for row in rows:
        click.echo("  ".join(str(row.get(c, "")).rjust(w)
                             for c, w in zip(columns, widths, strict=True)))


def _plot_path(_ctx, _param, value: Path | None) -> Path | None:
    """Checked before anything is measured, so a long run never ends in a failed write."""
    if value is None:
        return None
    folder = value.parent if str(value.parent) else Path(".")
    if value.suffix.lower() != ".png":
        raise click.BadParameter(f"{value} is not a .png file name")
    if not folder.is_dir() or not os.access(folder, os.W_OK):
        raise click.BadParameter(f"cannot write into {folder}: make it or choose another folder")
    return value


FOLDER_ARGUMENT = click.argument(
    "folder", type=click.Path(exists=True, file_okay=False, path_type=Path))
MODEL_OPTION = click.option("--model", type=click.Path(path_type=Path),
                            help="Model bundle folder.")
PLOT_OPTION = click.option("--plot", type=click.Path(dir_okay=False, path_type=Path),
                           callback=_plot_path, help="Write a PNG chart here.")


def _batch_list(_ctx, _param, value: str) -> tuple[int, ...]:
    try:
        return tuple(int(v) for v in value.split(","))
    except ValueError:
        raise click.BadParameter("use comma-separated integers, e.g. 1,8,32") from None


@click.group()
def bench() -> None:
    """Measure the engine, the decoder and the whole pipeline on this machine."""


@bench.command("model")
@MODEL_OPTION
@click.option("--batch-sizes", default="1,8,32,128,512", show_default=True,
              callback=_batch_list, help="Comma-separated batch sizes to time.")
@click.option("--threads", type=click.IntRange(0), default=0, show_default=True,
              help="ONNX Runtime threads (0: all cores).")
@click.option("--no-keras", is_flag=True, help="Skip the Keras predict reference.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
@PLOT_OPTION
def bench_model_cmd(model, batch_sizes, threads, no_keras, as_json, plot) -> None:
    """Images/s of each precision x batch size x provider (and Keras predict), on random
    pixels: for a bundle that takes a second look at unsure images that is the worst case
    (every image unsure); `bench pipeline` measures real images."""
    from labeler.bench.model_bench import bench_model

    ctx = Context()
    bundle = load_bundle(model or ctx.settings.model)
    if bundle.metadata.get("test_time_augmentation") == "flip_when_unsure":
        click.echo("random pixels are all unsure: every image takes the second look here "
                   "(the worst case)", err=True)
    rows = bench_model(bundle, batch_sizes, keras=not no_keras, threads=threads,
                       progress=lambda s: click.echo(f"  measuring {s}", err=True))
    _render(rows, ["engine", "provider", "precision", "batch", "ms_per_batch", "ms_p10",
                   "ms_p90", "images_per_second"], as_json=as_json)
    if plot:
        from labeler.bench.plots import plot_model

        plot_model(rows, plot)


@bench.command("decode")
@click.argument("folder", required=False,
                type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option("--synthetic", type=click.IntRange(1),
              help="Generate this many JPEGs instead of reading FOLDER.")
@click.option("--megapixels", type=click.FloatRange(0.001), default=12.0, show_default=True,
              help="Size of the --synthetic JPEGs (4:3).")
@click.option("--size", type=click.IntRange(8), default=32, show_default=True,
              help="Side of the decoded image in pixels.")
@click.option("--limit", type=click.IntRange(1), help="Use at most this many images.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
def bench_decode_cmd(folder, synthetic, megapixels, size, limit, as_json) -> None:
    """Decode-and-resize images/s, one core and all cores, with and without JPEG draft."""
    from labeler.bench.decode_bench import bench_decode
    from labeler.bench.synthetic import synthetic_folder

    if (folder is None) == (synthetic is None):
        raise click.UsageError("give a FOLDER or --synthetic N")
    if synthetic:
        width = int((megapixels * 1e6 * 4 / 3) ** 0.5)
        folder = synthetic_folder(synthetic, (width * 3 // 4, width))
    try:
        rows = bench_decode(folder, (size, size), limit)
    finally:
        if synthetic:
            shutil.rmtree(folder, ignore_errors=True)
    _render(rows, ["draft", "images", "cores", "mean_file_kb", "per_core_images_per_second",
                   "per_core_cpu_ms_per_image", "all_cores_images_per_second"],
            as_json=as_json)
    if len(rows) == 2 and not as_json:
        draft, full = rows
        speedup = draft["per_core_images_per_second"] / full["per_core_images_per_second"]
        cpu = full["per_core_cpu_ms_per_image"] / draft["per_core_cpu_ms_per_image"]
        click.echo(f"draft decoding is {speedup:.1f}x full decoding per core "
                   f"({cpu:.1f}x in CPU time per image)")


@bench.command("pipeline")
@click.argument("folder", required=False,
                type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option("--synthetic", type=click.IntRange(1), help="Generate this many 32x32 JPEGs.")
@MODEL_OPTION
@click.option("--precision", type=click.Choice(("auto", *PRECISIONS)),
              default="auto", show_default=True, help="Variant the workers run.")
@click.option("--habit", type=click.IntRange(0), default=200, show_default=True,
              help="Also time Pillow + Keras predict one image at a time on this many images "
                   "(needs the [train] extra; 0: skip).")
@click.option("--copies", type=click.IntRange(1), default=1, show_default=True,
              help="Label this many hard-linked copies of FOLDER's images (a larger job).")
@click.option("--rounds", type=click.IntRange(1), default=1, show_default=True,
              help="Run the pipeline and the plain script in turn this many times and report "
              "the round with the median ratio (a noisy machine drifts between runs).")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
@PLOT_OPTION
def bench_pipeline_cmd(folder, synthetic, model, precision, habit, copies, rounds, as_json,
                       plot) -> None:
    """Submit-to-done images/s through Redis and warm workers, with the time per stage,
    beside a plain multiprocessing script on the same files and model file."""
    import tempfile

    from labeler.bench.pipeline_bench import bench_pipeline
    from labeler.bench.soak import linked_copies
    from labeler.bench.synthetic import synthetic_folder

    if (folder is None) == (synthetic is None):
        raise click.UsageError("give a FOLDER or --synthetic N")
    ctx = Context()
    bundle = load_bundle(model or ctx.settings.model)
    made = [synthetic_folder(synthetic)] if synthetic else []
    folder = folder or made[0]
    if copies > 1:
        made.append(linked_copies(folder, copies, Path(tempfile.mkdtemp(prefix="lbl-copies-"))))
        folder = made[-1]
    printer = ProgressPrinter()
    try:
        result = bench_pipeline(ctx, folder, bundle, precision, on_progress=printer.update,
                                habit_images=habit, rounds=rounds)
    finally:
        for path in made:
            shutil.rmtree(path, ignore_errors=True)
    printer.finish()
    if as_json:
        click.echo(json.dumps(result, indent=2))
    else:
        _render_pipeline(result)
    if plot:
        from labeler.bench.plots import plot_pipeline

        plot_pipeline(result, plot)
        click.echo(f"chart written to {plot}", err=True)


def _render_pipeline(result: dict) -> None:
    click.echo(f"\n{result['images']:,} images in {result['wall_seconds']:.2f} s: "
               f"{result['images_per_second']:,.0f} images/s "
               f"({result['fraction_of_ceiling']:.0%} of the serial ceiling "
               f"{result['serial_ceiling']:,.0f} = {result['cores']} / (1/decode "
               f"{result['decode_per_core']:,.0f} + 1/model {result['model_per_core']:,.0f}))")
    plain = result["plain_script"]
    click.echo(f"a plain multiprocessing script on the same files and model file "
               f"({plain['processes']} processes, batches of 64): "
               f"{plain['images_per_second']:,.0f} images/s; the pipeline is "
               f"{result['times_plain_script']:.2f}x that")
    if len(result["rounds"]) > 1:
        click.echo("each round, pipeline ÷ plain script: " + ", ".join(
            f"{r['images_per_second']:,.0f}/{r['plain_script_images_per_second']:,.0f} = "
            f"{r['times_plain_script']:.2f}" for r in result["rounds"]) + " (the median shown)")
    if result["times_plain_script_unstolen"] is not None:
        stolen = ", ".join(f"{r['stolen_seconds']:.1f}/{r['plain_script_stolen_seconds']:.1f}"
                           for r in result["rounds"])
        click.echo(f"per CPU second the machine was given (CPU seconds stolen by the "
                   f"hypervisor, pipeline/script, each round: {stolen}): "
                   f"{result['times_plain_script_unstolen']:.2f}x (median)")
    click.echo(f"enqueue: {result['enqueue_images_per_second']:,.0f} images/s")
    if result["habit"]:
        click.echo(f"one image at a time (Pillow + Keras predict): "
                   f"{result['habit']['images_per_second']:,.1f} images/s; the pipeline "
                   f"({result['precision']}) is {result['times_habit']:,.0f}x that")
    click.echo("time per stage, summed over chunks (s): " + ", ".join(
        f"{k} {v:.2f}" for k, v in result["stage_seconds"].items() if k != "chunks"))
    click.echo("batch sizes: " + ", ".join(f"{k}x{v}" for k, v in result["batch_sizes"].items()))


def _fault_list(_ctx, _param, value: str) -> tuple[str, ...]:
    from labeler.bench.soak import FAULTS

    faults = tuple(f.strip() for f in value.split(",") if f.strip())
    unknown = [f for f in faults if f not in FAULTS]
    if unknown or not faults:
        raise click.BadParameter(f"use some of {','.join(FAULTS)}, comma-separated")
    return faults


@bench.command("soak")
@FOLDER_ARGUMENT
@click.option("--copies", type=click.IntRange(1), default=10, show_default=True,
              help="Hard-linked copies of FOLDER's images in the job.")
@click.option("--every", type=click.FloatRange(0.5), default=5.0, show_default=True,
              help="Seconds between faults.")
@click.option("--faults", default="pool,worker,redis,term", show_default=True,
              callback=_fault_list, help="Faults to take turns: a pool process killed, a "
              "whole worker killed, Redis killed, a worker stopped with SIGTERM.")
@click.option("--after", type=click.IntRange(0), default=0, show_default=True,
              help="The first fault once this many images are labelled.")
@click.option("--max-faults", type=click.IntRange(1), help="Faults at most (default: until "
              "the job is done).")
@MODEL_OPTION
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
def bench_soak_cmd(folder, copies, every, faults, after, max_faults, model, as_json) -> None:
    """One large job on local workers and a Redis of its own, with a fault every few seconds;
    then every submitted image is looked for in the results (lost, duplicated)."""
    from labeler.bench.soak import FaultPlan, soak

    ctx = Context()
    bundle = load_bundle(model or ctx.settings.model)
    printer = ProgressPrinter()
    result = soak(ctx.settings, folder, bundle, copies, FaultPlan(every, faults, after, max_faults),
                  on_progress=printer.update)
    printer.finish()
    if as_json:
        click.echo(json.dumps(result, indent=2))
        return
    result["faults"] = ", ".join(f"{k} {v}" for k, v in result["faults"].items())
    _render([result], ["images", "labelled", "failed", "lost", "duplicated", "relabelled",
                       "faults", "longest_stall_seconds", "last_fault_to_done_seconds",
                       "wall_seconds"], as_json=False)


@bench.command("million")
@FOLDER_ARGUMENT
@click.option("--copies", type=click.IntRange(1), default=100, show_default=True,
              help="Hard-linked copies of FOLDER's images in the job (100 x 10,000 = 1 M).")
@click.option("--requests", type=click.IntRange(1), default=20, show_default=True,
              help="Timed page requests per sort and filter.")
@MODEL_OPTION
def bench_million_cmd(folder, copies, requests, model) -> None:
    """A very large job on local workers and a Redis of its own, then the page's grid in
    every sort and filter, results -o, submit --resume and Redis memory per image."""
    from labeler.bench.million import bench_million

    ctx = Context()
    bundle = load_bundle(model or ctx.settings.model)
    printer = ProgressPrinter()
    result = bench_million(ctx.settings, folder, bundle, copies, requests, printer.update)
    printer.finish()
    click.echo(json.dumps(result, indent=2))


@bench.command("train")
@click.option("--preset", type=click.Choice([p for p in PRESET_NAMES if p != "transfer"]),
              default="whitened", show_default=True, help="Network to time.")
@click.option("--batch-size", type=click.IntRange(1), default=256, show_default=True,
              help="Training batch size.")
@click.option("--repeats", type=click.IntRange(1), default=10, show_default=True,
              help="Timed steps per compute policy (after 3 warm-up steps).")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
def bench_train_cmd(preset, batch_size, repeats, as_json) -> None:
    """Training step time in float32 and in bfloat16: whether --mixed-precision pays here."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # TensorFlow's start-up chatter
    train_bench = import_extra("labeler.bench.train_bench")
    rows = train_bench.bench_train(preset, batch_size, repeats,
                       progress=lambda s: click.echo(f"  measuring {s}", err=True))
    _render(rows, ["preset", "compute", "batch", "ms_per_step", "ms_p10", "ms_p90",
                   "images_per_second", "speedup"], as_json=as_json)
    if not as_json:
        flags = train_bench.cpu_bf16_flags()
        click.echo(f"bfloat16 instructions on this CPU: {', '.join(flags) or 'none'}; "
                   f"--mixed-precision trains {rows[-1]['speedup']:.2f}x as fast as float32")


@bench.command("audit")
@click.argument("data")
@click.option("--flip", type=click.FloatRange(0, 0.5, min_open=True), default=0.05,
              show_default=True, help="Share of labels flipped at random to another class.")
@click.option("--limit", type=click.IntRange(10), help="Audit a random subset this large.")
@click.option("--folds", type=click.IntRange(2, 10), default=3, show_default=True,
              help="Fold models of the audit.")
@click.option("--work", type=click.Path(path_type=Path), required=True,
              help="Folder for the noisy manifest, the fold runs and the audit.")
def bench_audit_cmd(data, flip, limit, folds, work) -> None:
    """Plant label errors in DATA and measure how many `labeler audit` finds."""
    audit_bench = import_extra("labeler.bench.audit_bench")
    click.echo(json.dumps(audit_bench.bench_audit(data, work, flip=flip, limit=limit,
                                                  folds=folds), indent=2))


@bench.command("duplicates")
@FOLDER_ARGUMENT
@click.option("--limit", type=click.IntRange(2), default=10_000, show_default=True,
              help="Images of FOLDER in the job.")
@click.option("--copies", type=click.IntRange(1), default=1000, show_default=True,
              help="Transformed copies planted among them (re-encoded, resized, cropped, "
              "brightened, mirrored in turn).")
@click.option("--million", type=click.IntRange(0), default=1_000_000, show_default=True,
              help="Also time the search over this many distinct signatures (0: not).")
@MODEL_OPTION
def bench_duplicates_cmd(folder, limit, copies, million, model) -> None:
    """Plant near-duplicates in a job of FOLDER's images and measure what labeler duplicates
    finds, what the signature costs a worker, and a search over a million signatures."""
    from labeler.bench.duplicates_bench import bench_duplicates

    ctx = Context()
    bundle = load_bundle(model or ctx.settings.model)
    click.echo(json.dumps(bench_duplicates(ctx.settings, folder, bundle, limit=limit,
                                           copies=copies, million=million), indent=2))


@bench.command("latency")
@FOLDER_ARGUMENT
@click.option("--seconds", type=click.FloatRange(1, 120), default=5, show_default=True,
              help="How long each number of clients sends requests, per image size.")
@click.option("--clients", default="1,8,32", show_default=True,
              help="Numbers of concurrent clients, comma-separated.")
@click.option("--batch-images", type=click.IntRange(10), default=2000, show_default=True,
              help="Images of FOLDER in the batch job timed for comparison.")
@click.option("--waits", default="0", show_default=True,
              help="Batching waits to compare (serve --label-wait-ms), comma-separated; the "
              "last also serves the run alongside a batch job.")
@click.option("--processes", type=click.IntRange(1, 64), default=1, show_default=True,
              help="Server processes (serve --processes).")
@MODEL_OPTION
def bench_latency_cmd(folder, seconds, clients, batch_images, waits, processes, model) -> None:
    """Real-time labelling (POST /api/label on a labeler serve of its own, loopback only):
    latency percentiles, images/s and errors with 1 to 32 clients, against the batch path,
    and one client's latency while a batch job of FOLDER runs alongside."""
    from labeler.bench.latency_bench import bench_latency

    counts = _numbers(clients, int, "--clients")
    ctx = Context()
    bundle = load_bundle(model or ctx.settings.model)
    click.echo(json.dumps(bench_latency(
        ctx.settings, folder, bundle, seconds=seconds, clients=counts,
        batch_images=batch_images, waits=_numbers(waits, float, "--waits"),
        processes=processes), indent=2))


@bench.command("bucket")
@FOLDER_ARGUMENT
@click.argument("prefix", metavar="URL")
@click.option("--rounds", type=click.IntRange(1), default=3, show_default=True,
              help="Folder and bucket jobs each, in alternating order.")
@click.option("--listing", type=click.IntRange(0), default=0, show_default=True,
              help="Also list and queue a prefix of this many small objects (written under "
              "URL first), with no worker: seconds and the submitting process's peak memory.")
@MODEL_OPTION
def bench_bucket_cmd(folder, prefix, rounds, listing, model) -> None:
    """FOLDER's images from the folder and from a bucket (copied under URL/images first, such
    as s3://scratch/bench), labelled in turn by the same local workers: images per second of
    the workers' CPU time, and per second of wall time."""
    from labeler.bench.bucket_bench import bench_bucket
    from labeler.buckets import bucket_root

    root = bucket_root(prefix)
    ctx = Context()
    bundle = load_bundle(model or ctx.settings.model)
    printer = ProgressPrinter()
    result = bench_bucket(ctx, folder, root, bundle, rounds=rounds, listing=listing,
                          on_progress=printer.update)
    printer.finish()
    click.echo(json.dumps(result, indent=2))


def _numbers(text: str, kind: type, option: str) -> tuple:
    try:
        return tuple(kind(part) for part in text.split(","))
    except ValueError:
        raise click.BadParameter("use numbers separated by commas, such as 1,8,32",
                                 param_hint=option) from None
