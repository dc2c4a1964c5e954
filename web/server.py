"""Running the web app under uvicorn (a production ASGI server), on loopback by default."""

from __future__ import annotations

import contextlib
import ipaddress
import os
import signal
import socket
import tempfile
import traceback
from dataclasses import replace
from pathlib import Path

from labeler.context import Context
from labeler.errors import LabelerError, UsageError
from labeler.settings import Settings
from labeler.web import sessions
from labeler.web.app import LOOPBACK_HOSTS, WebConfig, create_app
from labeler.web.auth import AuthConfig, auth_config
from labeler.web.users import read_users


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def allowed_hosts(host: str, extra: tuple[str, ...] = ()) -> list[str]:
    """Host names requests may name. Bound to all interfaces, any name is accepted (the
    user chose to be reachable); otherwise the bound address and loopback names only."""
    if host in ("0.0.0.0", "::"):
        return ["*"]
    return sorted({*LOOPBACK_HOSTS, host.strip("[]"), *extra})


def sign_in(settings: Settings, mode: str | None, users_file: Path | None, user_header: str,
            proxies: tuple[str, ...]) -> AuthConfig | None:
    """The sign-in `labeler serve`'s flags ask for, checked: a flag without its mode, or a
    mode without what it needs, is one line."""
    if users_file and mode != "users":
        raise UsageError("--users goes with --auth users")
    if mode == "users" and not users_file:
        raise UsageError("--auth users needs --users FILE (make it with 'labeler users add "
                         "FILE NAME')")
    if mode == "proxy" and not proxies:
        raise UsageError("--auth proxy needs --proxy-address, the address the proxy connects "
                         "from (only it may name the user)")
    for address in proxies:
        try:
            ipaddress.ip_address(address)
        except ValueError:
            raise UsageError(f"--proxy-address {address!r} is not an IP address") from None
    users = read_users(users_file) if mode == "users" else None
    return auth_config(mode, key=sessions.signing_key(settings.home),
                       web_token=settings.web_token, metrics_token=settings.metrics_token,
                       users=users, user_header=user_header, proxies=tuple(proxies))


def check_port_free(host: str, port: int) -> None:
    """One clear line instead of uvicorn's bind error after start-up."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host.strip("[]"), port))
        except OSError as exc:
            raise LabelerError(f"cannot listen on {host}:{port} ({exc.strerror}): "
                               "choose another with --port") from None


def serve(host: str, port: int, config: WebConfig, ctx: Context | None = None,
          processes: int = 1) -> None:
    """Serve until stopped. With `processes` > 1 the listening socket is made here and that
    many server processes (forked, each with its own app, Redis client and inference sessions)
    take connections from it: one Python process spends most of a real-time label's time in
    HTTP, and the kernel spreads connections over the processes."""
    import uvicorn

    ctx = ctx or Context()
    # Multipart parsing spools large uploads to temporary files: keep them in LABELER_HOME.
    spool = ctx.settings.home / "tmp"
    spool.mkdir(parents=True, exist_ok=True)
    tempfile.tempdir = str(spool)
    ctx.store.redis.ping()  # fail now, in one line, if Redis is unreachable
    options = {"log_level": "warning", "server_header": False, "proxy_headers": False,
               "limit_concurrency": 64}
    if processes == 1:
        uvicorn.run(create_app(config, ctx), host=host, port=port, **options)
        return
    sock = _listening_socket(host, port)
    share = replace(config, label_runners=config.label_runners or max(
        1, (os.cpu_count() or 1) // processes))
    children = []
    for _ in range(processes):
        pid = os.fork()
        if pid == 0:  # a server process: nothing of the parent's Redis client is reused
            code = 0
            try:
                server = uvicorn.Server(uvicorn.Config(create_app(share, Context()), **options))
                server.run(sockets=[sock])
            except BaseException:
                traceback.print_exc()
                code = 1
            finally:
                os._exit(code)
        children.append(pid)
    sock.close()
    _supervise(children)


def _listening_socket(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host.strip("[]"), port))
    sock.listen(2048)
    sock.set_inheritable(True)
    return sock


def _supervise(children: list[int]) -> None:
    """Wait for the server processes; a stop signal goes to all of them, and one that exits
    stops the others (a half-served port would fail requests at random)."""
    def stop(signum, _frame) -> None:
        for pid in children:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGTERM)

    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, stop)
    live = set(children)
    while live:
        try:
            pid, _ = os.wait()
        except ChildProcessError:
            break
        live.discard(pid)
        stop(signal.SIGTERM, None)
