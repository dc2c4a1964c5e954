"""`labeler stop`."""

from __future__ import annotations

import click

from labeler.context import Context


@click.command()
@click.option("--grace", type=click.FloatRange(0), metavar="S",
              help="Seconds a worker may take to finish its chunk before it is killed "
                   "(default: LABELER_TASK_TIME_LIMIT + 10).")
def stop(grace) -> None:
    """Stop the workers and the embedded Redis that labeler started for this LABELER_HOME."""
    from labeler.local_workers import stop_local
    from labeler.redis_server import embedded_redis_running

    ctx = Context()
    if not ctx.embedded:
        click.echo("LABELER_REDIS_URL is set, so labeler started nothing here: stop fleet "
                   "workers with SIGTERM (their service manager) and Redis with its own tools")
        return
    running = embedded_redis_running(ctx.settings.home)
    report = stop_local(ctx.fleet if running else None, ctx.settings, grace)
    for pid in report.workers_stopped:
        click.echo(f"worker {pid} stopped (its chunks finished or went back to the queue)")
    for pid in report.workers_killed:
        click.echo(f"worker {pid} killed after the grace period; its chunk is redelivered "
                   "after LABELER_VISIBILITY_TIMEOUT")
    if report.redis_stopped:
        click.echo(f"Redis under {ctx.settings.home / 'redis'} shut down (append-only file "
                   "flushed); the next labeler command starts it again")
    elif not running:
        click.echo("nothing running for this LABELER_HOME")
    if report.still_running:
        pids = " ".join(map(str, report.still_running))
        click.echo(f"still exiting after 10 s: process {pids}; check again with: ps -p {pids}")
