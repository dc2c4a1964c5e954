"""Settings read from the environment once, with defaults that work on one laptop."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

# The shipped model travels inside the package, so `pip install .` and a wheel both carry it.
DEFAULT_BUNDLE = Path(__file__).resolve().parent / "models" / "default"


def labeler_home() -> Path:
    """State folder: embedded Redis, worker logs, caches. LABELER_HOME overrides."""
    if "LABELER_HOME" in os.environ:
        # Absolute: the embedded Redis runs in its own folder and a relative path breaks it.
        return Path(os.environ["LABELER_HOME"]).expanduser().absolute()
    state = os.environ.get("XDG_STATE_HOME") or os.path.expanduser("~/.local/state")
    return Path(state) / "labeler"


def _env_int(name: str, default: int) -> int:
    value = os.environ.get(name)
    return int(value) if value else default


@dataclass(frozen=True)
class Settings:
    home: Path = field(default_factory=labeler_home)
    redis_url: str | None = field(default_factory=lambda: os.environ.get("LABELER_REDIS_URL"))
    model: Path = field(
        default_factory=lambda: Path(os.environ.get("LABELER_MODEL", str(DEFAULT_BUNDLE)))
    )
    # A chunk is one Celery task: big enough to amortise per-task overhead, small enough
    # that a crashed worker loses little and the visibility timeout is never reached.
    chunk_images: int = field(default_factory=lambda: _env_int("LABELER_CHUNK_IMAGES", 256))
    chunk_bytes: int = field(default_factory=lambda: _env_int("LABELER_CHUNK_BYTES", 32 << 20))
    result_ttl: int = field(default_factory=lambda: _env_int("LABELER_RESULT_TTL", 7 * 86400))
    # A chunk (<= 256 images, <= 32 MiB) takes about a second on a CPU; the time limit only
    # stops a stuck decode. The visibility timeout is how long a chunk held by a worker that
    # died waits before another worker gets it, so it is short, and longer than the time
    # limit so a running chunk is never delivered twice (celery#5935).
    task_time_limit: int = field(default_factory=lambda: _env_int("LABELER_TASK_TIME_LIMIT", 90))
    visibility_timeout: int = field(
        default_factory=lambda: _env_int("LABELER_VISIBILITY_TIMEOUT", 120)
    )
    # The embedded Redis refuses writes beyond this (noeviction), never dropping queued work.
    redis_maxmemory: str = field(
        default_factory=lambda: os.environ.get("LABELER_REDIS_MAXMEMORY", "2gb"))
    # Folders workers may read submitted images from (os.pathsep-separated); empty: any.
    allowed_roots: tuple[Path, ...] = field(default_factory=lambda: tuple(
        Path(p) for p in os.environ.get("LABELER_ALLOWED_ROOTS", "").split(os.pathsep) if p))
    worker_idle_exit: int = field(
        default_factory=lambda: _env_int("LABELER_WORKER_IDLE_EXIT", 300)
    )


def get_settings() -> Settings:
    return Settings()
