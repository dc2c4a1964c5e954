"""Settings read from the environment once, parsed and checked in one place, with defaults that
work on one laptop. A bad value is one `SettingsError` naming the variable, the value and what
is allowed; `cautions` lists the combinations that work but are unsafe (`labeler doctor`)."""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path

from labeler.errors import UsageError
from labeler.urls import split_bucket_url

# The shipped model travels inside the package, so `pip install .` and a wheel both carry it.
DEFAULT_BUNDLE = Path(__file__).resolve().parent / "models" / "default"
PREFIX = "LABELER_"


class SettingsError(UsageError):
    """A LABELER_* variable holds a value labeler cannot use (a usage error: exit 2)."""


def labeler_home(environ: Mapping[str, str] | None = None) -> Path:
    """State folder: embedded Redis, worker logs, caches. LABELER_HOME overrides."""
    environ = os.environ if environ is None else environ
    if environ.get("LABELER_HOME"):
        # Absolute: the embedded Redis runs in its own folder and a relative path breaks it.
        return Path(environ["LABELER_HOME"]).expanduser().absolute()
    state = environ.get("XDG_STATE_HOME") or os.path.expanduser("~/.local/state")
    return Path(state) / "labeler"


def _integer(low: int) -> tuple[Callable[[str], int], str]:
    def parse(text: str) -> int:
        value = int(text.strip())
        if value < low:
            raise ValueError
        return value
    return parse, f"a whole number >= {low}"


def _memory(text: str) -> str:
    if not re.fullmatch(r"\d+(b|kb|mb|gb|k|m|g)?", text.strip().lower()):
        raise ValueError
    return text.strip().lower()


def _redis_url(text: str) -> str:
    if not re.match(r"(redis|rediss|unix)://", text.strip()):
        raise ValueError
    return text.strip()


def _switch(text: str) -> bool:
    value = text.strip().lower()
    if value not in ("0", "1", "on", "off", "true", "false", "yes", "no"):
        raise ValueError
    return value in ("1", "on", "true", "yes")


def _events(text: str) -> str:
    value = text.strip().lower()
    if value == "auto":
        return value
    return "on" if _switch(value) else "off"


def _secret(text: str) -> str:
    """A token people paste and servers compare: long enough not to be guessed."""
    value = text.strip()
    if len(value) < 16 or any(c.isspace() for c in value):
        raise ValueError(value)
    return value


def _roots(text: str) -> tuple[Path, ...]:
    return tuple(Path(p) for p in text.split(os.pathsep) if p)


def _buckets(text: str) -> tuple[str, ...]:
    parts = [split_bucket_url(u) for u in re.split(r"[\s,]+", text.strip()) if u]
    if not parts or None in parts:
        raise ValueError(text)
    return tuple(f"{protocol}://{path}" for protocol, path in parts)


@dataclass(frozen=True)
class Variable:
    field: str
    default: object
    parse: Callable[[str], object]
    allowed: str
    meaning: str


_SECONDS = _integer(1)
# One row per variable: the parser, what is allowed (for the error line) and what it means.
VARIABLES: dict[str, Variable] = {f"{PREFIX}{v.field.upper()}": v for v in (
    Variable("redis_url", None, _redis_url, "a redis://, rediss:// or unix:// URL",
             "Redis to use; with it nothing is started"),
    Variable("model", DEFAULT_BUNDLE, Path, "a model bundle folder", "model bundle folder"),
    # A chunk is one Celery task: big enough to amortise per-task overhead, small enough
    # that a crashed worker loses little and the visibility timeout is never reached.
    Variable("chunk_images", 512, *_integer(1), "images per task at most"),
    Variable("chunk_bytes", 32 << 20, *_integer(1024), "bytes per task at most"),
    Variable("result_ttl", 7 * 86400, *_SECONDS, "seconds job records and results are kept"),
    # A chunk (<= 512 images, <= 32 MiB) takes 0.3-2 s on a CPU; the time limit only
    # stops a stuck decode. The visibility timeout is how long a chunk held by a worker that
    # died waits before another worker gets it, so it is short, and longer than the time
    # limit so a running chunk is never delivered twice (celery#5935).
    Variable("task_time_limit", 90, *_SECONDS,
             "seconds a chunk may run before its process is stopped"),
    Variable("visibility_timeout", 120, *_SECONDS,
             "seconds before a chunk held by a dead worker is redelivered (must exceed the "
             "time limit)"),
    # The embedded Redis refuses writes beyond this (noeviction), never dropping queued work.
    Variable("redis_maxmemory", "2gb", _memory, "a Redis memory size such as 512mb or 2gb",
             "memory limit of the embedded Redis (noeviction)"),
    Variable("allowed_roots", (), _roots, "folders separated by ':'",
             "folders workers may read submitted images from"),
    Variable("allowed_buckets", (), _buckets, "bucket URLs separated by spaces or commas",
             "bucket prefixes workers may read (s3://bucket/prefix); with LABELER_ALLOWED_ROOTS "
             "set and this unset, none"),
    # A chunk's reads run concurrently; one still unanswered after the timeout fails its item,
    # well within LABELER_TASK_TIME_LIMIT.
    Variable("fetch_timeout", 30, *_SECONDS, "seconds a worker waits for one object of a bucket"),
    Variable("fetch_concurrency", 32, *_integer(1), "objects a worker reads from a bucket at once"),
    Variable("worker_idle_exit", 300, *_integer(0),
             "idle seconds before a spawned local worker exits (0: never)"),
    # Flower and `celery events` see workers and tasks only through these events. Task
    # events cost each chunk three publishes from the worker's main process, between one
    # chunk and the next; Flower asks for them itself (every 5 s), so by default a worker
    # sends them from when a monitor asks, and heartbeats always.
    Variable("web_token", None, _secret, "at least 16 characters, no spaces",
             "labeler serve's bearer token for API clients (with --auth token, also its login "
             "token instead of a generated one)"),
    Variable("metrics_token", None, _secret, "at least 16 characters, no spaces",
             "bearer token Prometheus sends for labeler serve's /metrics when sign-in is on "
             "(else loopback only)"),
    Variable("task_events", "auto", _events, "auto, 1 or 0 (on/off)",
             "Celery task events: auto (from when a monitor such as Flower asks for them), "
             "1 (always) or 0 (never, nor heartbeats)"),
)}


@dataclass(frozen=True)
class Settings:
    home: Path
    redis_url: str | None = None
    model: Path = DEFAULT_BUNDLE
    chunk_images: int = 512
    chunk_bytes: int = 32 << 20
    result_ttl: int = 7 * 86400
    task_time_limit: int = 90
    visibility_timeout: int = 120
    redis_maxmemory: str = "2gb"
    allowed_roots: tuple[Path, ...] = ()
    allowed_buckets: tuple[str, ...] = ()
    fetch_timeout: int = 30
    fetch_concurrency: int = 32
    worker_idle_exit: int = 300
    web_token: str | None = field(default=None, repr=False)
    metrics_token: str | None = field(default=None, repr=False)
    task_events: str = "auto"

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        """Parse and check every LABELER_* variable; the first bad one raises SettingsError."""
        environ = os.environ if environ is None else environ
        values: dict[str, object] = {"home": labeler_home(environ)}
        for name, variable in VARIABLES.items():
            text = environ.get(name, "")
            if not text:
                values[variable.field] = variable.default
                continue
            try:
                values[variable.field] = variable.parse(text)
            except ValueError:
                raise SettingsError(f"{name}={text!r} is not valid: use {variable.allowed}"
                                    ) from None
        settings = cls(**values)
        if settings.visibility_timeout <= settings.task_time_limit:
            raise SettingsError(
                f"LABELER_VISIBILITY_TIMEOUT={settings.visibility_timeout} must exceed "
                f"LABELER_TASK_TIME_LIMIT={settings.task_time_limit}: a chunk still running "
                "would be delivered to a second worker")
        if settings.fetch_timeout >= settings.task_time_limit and not environ.get(
                f"{PREFIX}FETCH_TIMEOUT"):  # a short time limit shortens the default read
            settings = replace(settings, fetch_timeout=max(1, settings.task_time_limit // 2))
        if settings.fetch_timeout >= settings.task_time_limit:
            raise SettingsError(
                f"LABELER_FETCH_TIMEOUT={settings.fetch_timeout} must be under "
                f"LABELER_TASK_TIME_LIMIT={settings.task_time_limit}: a stalled store would stop "
                "the chunk before its reads fail with a reason")
        return settings

    @property
    def bucket_allowlist(self) -> tuple[str, ...] | None:
        """The bucket prefixes workers may read; None: any their credentials can."""
        if self.allowed_buckets:
            return self.allowed_buckets
        return () if self.allowed_roots else None

    def cautions(self) -> list[str]:
        """Combinations that work but put results or time at risk."""
        found = []
        if self.result_ttl < 3600:
            found.append(f"LABELER_RESULT_TTL={self.result_ttl}: results expire within an "
                         "hour, maybe before a large job is downloaded")
        if self.visibility_timeout > 10 * max(self.task_time_limit, 60):
            found.append(f"LABELER_VISIBILITY_TIMEOUT={self.visibility_timeout}: a chunk held "
                         "by a dead worker waits that long before another worker gets it")
        if self.chunk_images > 4096:
            found.append(f"LABELER_CHUNK_IMAGES={self.chunk_images}: one chunk may not finish "
                         f"within LABELER_TASK_TIME_LIMIT={self.task_time_limit} s")
        if 0 < self.worker_idle_exit < 30:
            found.append(f"LABELER_WORKER_IDLE_EXIT={self.worker_idle_exit}: spawned workers "
                         "leave between chunks of a slow submit")
        return found


def get_settings() -> Settings:
    return Settings.from_env()
