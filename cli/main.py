"""The `labeler` command. Commands are thin: parse, call a library function, render."""

from __future__ import annotations

import click
import redis

from labeler import __version__
from labeler.errors import LabelerError, UsageError
from labeler.settings import get_settings

# `doctor` reports bad settings as one of its checks instead of refusing to start.
_CHECKS_SETTINGS_ITSELF = {"doctor"}


class UsageLine(click.ClickException):
    """One line and exit status 2: the command was asked for something it cannot do."""

    exit_code = 2


class LabelerGroup(click.Group):
    """Checks the LABELER_* settings before any command runs, and turns library errors into
    one line and exit status 1 (2 for usage errors and bad settings), never a traceback."""

    def invoke(self, ctx: click.Context):
        try:
            if not _skips_settings(ctx):
                get_settings()
            return super().invoke(ctx)
        except UsageError as exc:
            raise UsageLine(str(exc)) from None
        except LabelerError as exc:
            raise click.ClickException(str(exc)) from None
        except redis.OutOfMemoryError:
            raise click.ClickException(
                "Redis is full (maxmemory, noeviction): free space with 'labeler forget JOB' "
                "or raise LABELER_REDIS_MAXMEMORY") from None
        except redis.RedisError as exc:
            raise click.ClickException(f"Redis failed: {exc}") from None


def _skips_settings(ctx: click.Context) -> bool:
    # Click keeps the subcommand's name apart from its arguments until it is invoked.
    words = [*getattr(ctx, "_protected_args", []), *ctx.args]
    return bool(set(words) & {"-h", "--help"}) or bool(
        words and words[0] in _CHECKS_SETTINGS_ITSELF)


@click.group(cls=LabelerGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="labeler")
def cli() -> None:
    """Label folders of images with a CNN served by ONNX Runtime on Celery workers."""


def _register() -> None:
    from labeler.cli import (
        bench_cmd,
        doctor_cmd,
        jobs_cmd,
        model_cmd,
        review_cmd,
        serve_cmd,
        stop_cmd,
        worker_cmd,
    )

    for command in (jobs_cmd.submit, jobs_cmd.status, jobs_cmd.results, jobs_cmd.forget,
                    review_cmd.reviewed,
                    worker_cmd.worker, model_cmd.train, model_cmd.export, model_cmd.evaluate,
                    model_cmd.score, bench_cmd.bench, doctor_cmd.doctor, serve_cmd.serve,
                    stop_cmd.stop):
        cli.add_command(command)


_register()


def main() -> None:
    cli(prog_name="labeler")


if __name__ == "__main__":
    main()
