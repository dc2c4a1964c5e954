"""Rendering job progress: a one-line bar on a terminal, a line every few seconds otherwise."""

from __future__ import annotations

import sys
import time
from typing import TYPE_CHECKING

import click

from labeler.durations import format_seconds

if TYPE_CHECKING:
    from labeler.store import JobProgress


def count(n: int, noun: str) -> str:
    """'1 image', '2 images'."""
    return f"{n:,} {noun}{'' if n == 1 else 's'}"


def progress_line(job: JobProgress, width: int = 30) -> str:
    fraction = job.done / job.total if job.total else 1.0
    filled = int(fraction * width)
    bar = "#" * filled + "-" * (width - filled)
    failed = f", {job.failed:,} failed" if job.failed else ""
    return (f"[{bar}] {job.done:,}/{job.total:,} {fraction:4.0%}{failed}  "
            f"labelling {job.rate:,.0f} images/s  ETA {format_seconds(job.eta)}")


class ProgressPrinter:
    def __init__(self, stream=None) -> None:
        self.stream = stream or sys.stderr
        self.tty = self.stream.isatty()
        self.last_print = 0.0
        self.last_job: JobProgress | None = None

    def update(self, job: JobProgress) -> None:
        self.last_job = job
        now = time.monotonic()
        if self.tty:
            click.echo("\r" + progress_line(job), nl=False, file=self.stream)
        elif now - self.last_print >= 5:
            click.echo(progress_line(job), file=self.stream)
            self.last_print = now

    def finish(self, job: JobProgress | None = None) -> None:
        """The final line (for the last job seen when none is given)."""
        job = job or self.last_job
        if job is None:
            return
        if self.tty:
            click.echo("\r" + progress_line(job), file=self.stream)
        else:
            click.echo(progress_line(job), file=self.stream)
