"""The `labeler` command. Commands are thin: parse, call a library function, render."""

from __future__ import annotations

import importlib
import sys

import click

from labeler import __version__
from labeler.errors import LabelerError, UsageError
from labeler.settings import get_settings

# Every command, as module:attribute under labeler.cli, imported only when used.
COMMANDS = {
    "submit": "jobs_cmd:submit", "status": "jobs_cmd:status", "results": "jobs_cmd:results",
    "forget": "jobs_cmd:forget", "reviewed": "review_cmd:reviewed", "worker": "worker_cmd:worker",
    "train": "model_cmd:train", "export": "model_cmd:export", "evaluate": "model_cmd:evaluate",
    "score": "model_cmd:score", "bench": "bench_cmd:bench", "doctor": "doctor_cmd:doctor",
    "serve": "serve_cmd:serve", "stop": "stop_cmd:stop", "audit": "audit_cmd:audit",
    "duplicates": "duplicates_cmd:duplicates", "users": "users_cmd:users",
}

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
        except Exception as exc:
            raise _redis_failure(exc) or exc from None

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(COMMANDS)

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        """Each command's module is imported when that command is asked for: `--help` and
        `status` do not pay for what `bench` or `serve` import."""
        if name not in COMMANDS:
            return None
        module, attribute = COMMANDS[name].split(":")
        return getattr(importlib.import_module(f"labeler.cli.{module}"), attribute)


def _redis_failure(exc: Exception) -> click.ClickException | None:
    """Redis's errors as one line; redis-py is imported only by commands that talk to Redis,
    so an error cannot be one of its own unless it was."""
    redis = sys.modules.get("redis")
    if redis is None or not isinstance(exc, redis.RedisError):
        return None
    if isinstance(exc, redis.OutOfMemoryError):
        return click.ClickException(
            "Redis is full (maxmemory, noeviction): free space with 'labeler forget JOB' "
            "or raise LABELER_REDIS_MAXMEMORY")
    return click.ClickException(f"Redis failed: {exc}")


def _skips_settings(ctx: click.Context) -> bool:
    # Click keeps the subcommand's name apart from its arguments until it is invoked.
    words = [*getattr(ctx, "_protected_args", []), *ctx.args]
    return bool(set(words) & {"-h", "--help"}) or bool(
        words and words[0] in _CHECKS_SETTINGS_ITSELF)


@click.group(cls=LabelerGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="labeler")
def cli() -> None:
    """Label folders of images with a CNN served by ONNX Runtime on Celery workers."""


def main() -> None:
    cli(prog_name="labeler")


if __name__ == "__main__":
    main()
