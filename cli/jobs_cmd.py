"""`labeler submit`, `labeler status`, `labeler results`, `labeler forget`."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING

import click

from labeler.bundle import PRECISIONS, load_bundle
from labeler.cli.progress import ProgressPrinter, count
from labeler.context import Context
from labeler.durations import format_seconds
from labeler.errors import JobNotFound, LabelerError

if TYPE_CHECKING:
    from labeler.store import JobProgress
    from labeler.submit import StartedJob, Submission

EXIT_OK, EXIT_UNFINISHED, EXIT_SOME_FAILED = 0, 1, 3
RESULT_FORMATS = ("csv", "jsonl", "parquet", "labelstudio", "labelstudio-config")


def _folder_or_bucket(ctx: click.Context, param: click.Parameter, value: str):
    from labeler.buckets import bucket_root, is_bucket_url

    if is_bucket_url(value):
        try:
            return bucket_root(value)
        except LabelerError as exc:
            raise click.BadParameter(str(exc)) from None
    return click.Path(exists=True, file_okay=False, path_type=Path).convert(value, param, ctx)


@click.command()
@click.argument("source", metavar="FOLDER|URL", callback=_folder_or_bucket)
@click.option("--wait", is_flag=True, help="Show progress until the job ends.")
@click.option("-o", "--output",
              help="With --wait: write results here (.csv, .jsonl or .parquet; a path or a "
              "bucket URL).")
@click.option("--show", is_flag=True, help="With --wait: print path, label and confidence.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
@click.option("--model", type=click.Path(path_type=Path), help="Model bundle folder.")
@click.option("--precision", type=click.Choice(("auto", *PRECISIONS)), default="auto",
              show_default=True, help="Model variant; auto lets the worker pick.")
@click.option("--top-k", type=click.IntRange(1, 100), default=3, show_default=True,
              help="Classes kept with their probabilities per image.")
@click.option("--inline", is_flag=True, help="Send image bytes in the tasks (remote workers).")
@click.option("--no-spawn", is_flag=True, help="Never start local workers.")
@click.option("--timeout", type=float, help="With --wait: give up after this many seconds.")
@click.option("--resume", "resume", metavar="JOB",
              help="Continue JOB: label only what it has not labelled (new and failed images).")
def submit(source, wait, output, show, as_json, model, precision, top_k, inline, no_spawn,
           timeout, resume) -> None:
    """Label every image under FOLDER, or under a bucket prefix such as s3://bucket/photos
    (recursively)."""
    from labeler.submit import start_job  # Celery loads only for commands that send tasks

    if (output or show) and not wait:
        raise click.UsageError("-o and --show need --wait (or later: labeler results JOB)")
    if output:
        _check_output(output)
    ctx = Context()
    bundle = load_bundle(model or ctx.settings.model)
    if precision != "auto":
        bundle.variant_path(precision)
    from labeler.results_io import write_job_results

    clock = time.monotonic()
    started = start_job(ctx, source, bundle, precision, top_k=top_k, inline=inline,
                        resume=resume, spawn=not no_spawn)
    job = started.submission
    if as_json and not wait:
        click.echo(json.dumps({"job": job.job_id, "total": job.total, "chunks": job.chunks,
                               "queue": job.queue, "spawned_worker": started.spawned,
                               "scan_seconds": round(job.scan_seconds, 4),
                               "enqueue_seconds": round(job.enqueue_seconds, 4)}))
    elif not as_json:
        click.echo(_submitted(job), err=wait)
        if started.unserved:
            click.echo(f"no worker is serving {job.queue} yet; start one with: "
                       f"{_worker_hint(bundle, model, precision)}", err=True)
    if not wait:
        return
    final = _follow(ctx, started, quiet=as_json, timeout=timeout)
    if output:
        write_job_results(ctx.store, job.job_id, output)
    if show:
        _show(ctx, job.job_id)
    if as_json:
        click.echo(json.dumps(final.as_dict()))
    else:
        click.echo(_summary(job, final, time.monotonic() - clock)
                   + (f"; results in {output}" if output else ""), err=True)
    sys.exit(EXIT_SOME_FAILED if final.failed else EXIT_OK)


def _submitted(job: Submission) -> str:
    what = (f"{job.queued:,} of {count(job.total, 'image')} left to label"
            if job.resumed else count(job.total, "image"))
    return (f"job {job.job_id}: {what} in {count(job.chunks, 'chunk')} "
            f"(found in {job.scan_seconds:.2f} s, queued in {job.enqueue_seconds:.2f} s)")


def _worker_hint(bundle, model, precision: str) -> str:
    return "labeler worker" + (f" --model {bundle.path}" if model else "") + (
        f" --precision {precision}" if precision != "auto" else "")


def _summary(job: Submission, final: JobProgress, seconds: float) -> str:
    """What this submission did, in wall time from the command's start (scan, queueing and
    any worker start-up included), and the rate the workers labelled at once started. A
    resumed job counts only the images it queued again."""
    labelled = final.labelled - job.labelled_before
    text = (f"{labelled:,} labelled, {final.failed:,} failed in {seconds:.1f} s wall time; "
            f"workers labelled {final.rate:,.0f} images/s")
    if job.resumed:
        text += f"; the job now has {final.labelled:,} of {final.total:,} labelled"
    return text


def _follow(ctx: Context, started: StartedJob, *, quiet: bool, timeout: float | None
            ) -> JobProgress:
    from labeler.waiting import follow_job

    printer = ProgressPrinter()
    try:
        final = follow_job(ctx, started.submission.job_id, started.supply,
                           on_progress=(lambda job: None) if quiet else printer.update,
                           on_notice=lambda text: click.echo(f"\n{text}", err=True),
                           timeout=timeout)
    except LabelerError as exc:
        click.echo(f"\nError: {exc}", err=True)
        sys.exit(EXIT_UNFINISHED)
    if not quiet:
        printer.finish(final)
    return final


def _show(ctx: Context, job_id: str) -> None:
    for path, result, error in ctx.store.iter_items(job_id):
        if result:
            click.echo(f"{path:40s} {result.label:12s} {result.confidence:.3f}")
        else:
            click.echo(f"{path:40s} {'-':12s} failed: {error}")


def _check_output(output: str) -> None:
    from labeler.results_io import format_for

    try:
        format_for(output)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="-o") from None


@click.command()
@click.argument("job_id", required=False)
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
def status(job_id, as_json) -> None:
    """Progress of JOB_ID, or recent jobs, workers online and queue depths."""
    ctx = Context()
    if job_id:
        job = ctx.store.require(job_id)
        reviews = ctx.store.review_counts(job_id)
        if as_json:
            click.echo(json.dumps({**job.as_dict(), **reviews}))
            return
        click.echo(_describe(job))
        if reviews["reviewed"]:
            click.echo(f"  reviewed {reviews['reviewed']:,} (corrected "
                       f"{reviews['corrected']:,})")
        return
    jobs, workers = ctx.store.recent_jobs(), ctx.fleet.workers()
    served = {q for w in workers for q in w.get("queues") or [w["queue"]]}
    queues = sorted({j.record.get("queue", "") for j in jobs} | served)
    depths = {q: ctx.fleet.queue_depth(q) for q in queues if q}
    if as_json:
        click.echo(json.dumps({"jobs": [j.as_dict() for j in jobs], "workers": workers,
                               "queues": depths}))
        return
    click.echo(f"workers online: {len(workers)}")
    for w in workers:
        click.echo(f"  {w['name']}  concurrency {w['concurrency']}  serving "
                   f"{', '.join(w.get('queues') or [w['queue']])}")
    for queue, depth in depths.items():
        click.echo(f"queue {queue}: {count(depth, 'chunk')} waiting")
    click.echo("recent jobs:" if jobs else "no jobs yet")
    for line in _jobs_table(jobs):
        click.echo("  " + line)


def _jobs_table(jobs: list[JobProgress]) -> list[str]:
    """Recent jobs as aligned columns under a header: text left, numbers right."""
    header = ("job", "state", "done", "total", "labelled", "failed")
    rows = [(j.id, j.state.value, f"{j.done:,}", f"{j.total:,}", f"{j.labelled:,}",
             f"{j.failed:,}") for j in jobs]
    widths = [max(len(row[i]) for row in (header, *rows)) for i in range(len(header))]
    return ["  ".join(cell.ljust(w) if i < 2 else cell.rjust(w)
                      for i, (cell, w) in enumerate(zip(row, widths, strict=True))).rstrip()
            for row in ([header, *rows] if rows else [])]


def _describe(job: JobProgress) -> str:
    from labeler.store import JobState

    listed = " listed so far (listing)" if job.listing else ""
    text = (f"{job.id}  {job.state.value}  {job.done:,}/{job.total:,}{listed}  "
            f"labelled {job.labelled:,}  failed {job.failed:,}")
    eta = "" if job.state is JobState.DONE else f"  ETA {format_seconds(job.eta)}"
    return (f"{text}\n  {job.rate:,.0f} images/s  elapsed {format_seconds(job.elapsed)}{eta}"
            f"\n  source {job.record.get('root')}  model {job.record.get('model')} "
            f"({job.record.get('precision')})")


@click.command()
@click.argument("job_id")
@click.option("-o", "--output", default="-", show_default=True,
              help="File to write (.csv, .jsonl or .parquet, or any name with --format), a "
              "bucket URL such as s3://bucket/labels.parquet, or - for standard output.")
@click.option("--format", "fmt", type=click.Choice(RESULT_FORMATS),
              help="csv, jsonl, parquet, labelstudio (tasks with predictions to import into Label "
              "Studio; needs --images) or labelstudio-config (its labelling config). Default: "
              "from the file name, CSV on standard output.")
@click.option("--images", "images", metavar="KIND:WHERE",
              help="With --format labelstudio, where Label Studio loads the images from: "
              "served:URL (labeler serve's address, started with --cors-origin), "
              "local-files:DOCUMENT_ROOT (Label Studio's local-files storage), "
              "url-prefix:URL (your file server's URL of the job's folder) or bucket (a bucket "
              "job's own s3:// URLs, for Label Studio's cloud storage).")
@click.option("--label", help="Only items with this label, or 'failed' for the failed ones.")
@click.option("--below", type=click.FloatRange(0, 1),
              help="Only labelled items with a confidence under this (the ones to review).")
@click.option("--reviewed", is_flag=True,
              help="Instead: the labels people reviewed on the page, as a manifest "
              "(path,label,source,reviewer,reviewed_at) that labeler train takes.")
def results(job_id, output, fmt, images, label, below, reviewed) -> None:
    """Write the labels (and failures with their reasons) of JOB_ID."""
    from labeler import labelstudio
    from labeler.results_io import write_job_results

    if reviewed:
        return _write_reviewed(job_id, output)
    if fmt is None:
        _check_output(output)
    if (fmt == "labelstudio") != bool(images):
        raise click.UsageError("--images goes with --format labelstudio, and it needs one: "
                               "served:URL, local-files:DOCUMENT_ROOT, url-prefix:URL or bucket")
    address = labelstudio.parse_address(images) if images else None
    ctx = Context()
    job = ctx.store.require(job_id)
    if address:
        address.check_folder(job.record.get("root", ""))
        tasks = labelstudio.job_tasks(ctx.store, job_id, address, label, below)
        count, what = labelstudio.write_tasks(tasks, output), "tasks"
    elif fmt == "labelstudio-config":
        classes, _models = ctx.store.tables(job_id)
        _write_text(labelstudio.labelling_config(classes), output)
        count, what = len(classes), "choices"
    else:
        count, what = write_job_results(ctx.store, job_id, output, label, below,
                                        kind=f".{fmt}" if fmt else None), "rows"
    if output != "-":
        click.echo(f"wrote {count:,} {what} to {output}", err=True)


def _write_reviewed(job_id: str, output: str) -> None:
    from labeler.job_reviews import reviewed_csv, write_reviewed

    ctx = Context()
    if output == "-":
        for text in reviewed_csv(ctx.store, job_id):
            click.echo(text, nl=False)
        return
    count = write_reviewed(ctx.store, job_id, Path(output))
    click.echo(f"wrote {count:,} reviewed labels to {output}", err=True)


def _write_text(text: str, output: str) -> None:
    if output == "-":
        click.echo(text, nl=False)
    else:
        Path(output).write_text(text, encoding="utf-8")


@click.command()
@click.argument("job_ids", nargs=-1, required=True)
def forget(job_ids) -> None:
    """Delete the records and results of JOB_IDS from Redis (they also expire by themselves)."""
    ctx = Context()
    missing = []
    for job_id in job_ids:
        if ctx.store.forget_job(job_id):
            click.echo(f"{job_id}: deleted")
        else:
            missing.append(job_id)
    if missing:
        raise JobNotFound(*missing)
