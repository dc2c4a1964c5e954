"""`labeler serve`: the web page for uploading images and reviewing labels."""

from __future__ import annotations

import socket
from pathlib import Path
from urllib.parse import urlsplit

import click

from labeler.errors import UsageError


@click.command()
@click.option("--host", default="127.0.0.1", show_default=True,
              help="Address to bind; anything but loopback lets other hosts use it.")
@click.option("--port", type=click.IntRange(1, 65535), default=8000, show_default=True,
              help="TCP port to listen on.")
@click.option("--max-upload-mb", type=click.IntRange(1), default=1024, show_default=True,
              help="Largest upload (all files of one request, zips inflated).")
@click.option("--max-files", type=click.IntRange(1), default=10_000, show_default=True,
              help="Most images in one upload.")
@click.option("--top-k", type=click.IntRange(1, 100), default=5, show_default=True,
              help="Classes kept with their probabilities per uploaded image.")
@click.option("--no-spawn", is_flag=True, help="Never start local workers.")
@click.option("--cors-origin", "cors_origins", multiple=True, metavar="ORIGIN",
              callback=lambda _c, _p, v: [_origin(o) for o in v],
              help="Let pages from this origin (scheme://host[:port], such as your Label "
              "Studio's) load images and results; repeat for more. None by default.")
@click.option("--public-url", metavar="URL", callback=lambda _c, _p, v: v and _public_url(v),
              help="This server's address as other machines reach it (behind a proxy or a "
              "name), used in the Label Studio export's image links instead of the request's.")
@click.option("--auth", type=click.Choice(["token", "users", "proxy"]),
              help="Sign-in, needed on any address but loopback: token (a generated token, "
              "printed as a login URL), users (names and passwords from --users) or proxy (a "
              "reverse proxy that authenticates names the user in --user-header).")
@click.option("--users", "users_file", type=click.Path(dir_okay=False, path_type=Path),
              help="With --auth users: the file 'labeler users add FILE NAME' writes.")
@click.option("--user-header", default="X-Forwarded-User", show_default=True,
              help="With --auth proxy: the header in which the proxy names the user.")
@click.option("--proxy-address", "proxies", multiple=True, metavar="ADDRESS",
              help="The reverse proxy's address, trusted for --user-header and for "
              "X-Forwarded-Proto (Secure cookies behind TLS); repeat for more.")
@click.option("--label-wait-ms", type=click.FloatRange(0, 100), default=0.5,
              show_default=True,
              help="How long POST /api/label waits for more images to batch with (0: none; "
              "images that arrive while a batch runs form the next one anyway).")
@click.option("--processes", type=click.IntRange(1, 64), default=1, show_default=True,
              help="Server processes sharing the port (real-time labels under many clients: "
              "one per core).")
def serve(host, port, max_upload_mb, max_files, top_k, no_spawn, cors_origins,
          public_url, auth, users_file, user_header, proxies, label_wait_ms,
          processes) -> None:
    """Web page: upload images or a zip, watch them labelled, review and download."""
    from labeler.context import Context
    from labeler.imaging import MAX_FILE_BYTES
    from labeler.web.app import WebConfig
    from labeler.web.server import allowed_hosts, check_port_free, is_loopback, sign_in
    from labeler.web.server import serve as run_server
    from labeler.web.uploads import UploadLimits

    if not auth and not is_loopback(host):
        raise UsageError(f"serving on {host} needs sign-in: add --auth token (prints a login "
                         "URL), --auth users --users FILE, or --auth proxy --proxy-address "
                         "ADDRESS")
    ctx = Context()
    total = max_upload_mb << 20
    public_host = (urlsplit(public_url).hostname,) if public_url else ()
    config = WebConfig(limits=UploadLimits(max_files, total, min(MAX_FILE_BYTES, total)),
                       allowed_hosts=allowed_hosts(host, public_host),
                       spawn_workers=not no_spawn, top_k=top_k,
                       cors_origins=cors_origins, public_url=public_url,
                       auth=sign_in(ctx.settings, auth, users_file, user_header, proxies),
                       label_wait_ms=label_wait_ms)
    check_port_free(host, port)
    shown = socket.gethostname() if host in ("0.0.0.0", "::") else (
        f"[{host}]" if ":" in host else host)  # an address a browser elsewhere can open
    base = public_url or f"http://{shown}:{port}"
    click.echo(f"labeler web page on {base}/ (Ctrl+C stops it)", err=True)
    if config.auth and config.auth.mode == "token":
        click.echo(f"sign in at {base}/login?token={config.auth.token}", err=True)
    run_server(host, port, config, ctx, processes=processes)


def _origin(text: str) -> str:
    parts = urlsplit(text)
    if parts.scheme not in ("http", "https") or not parts.netloc or parts.path not in ("", "/"):
        raise click.BadParameter(f"{text!r} is not an origin: use scheme://host[:port], such "
                                 "as http://127.0.0.1:8080")
    return f"{parts.scheme}://{parts.netloc}"


def _public_url(text: str) -> str:
    parts = urlsplit(text)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise click.BadParameter(f"{text!r} is not a URL: use http(s)://host[:port][/path]")
    return text.rstrip("/")
