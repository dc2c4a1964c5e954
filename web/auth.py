"""Who may use the page and its API when `labeler serve` has sign-in on.

Three ways in, chosen at start (`--auth`):
- token: one generated secret; `/login?token=...` (printed at start, as Jupyter does) signs a
  browser in, and API clients send it as `Authorization: Bearer ...`;
- users: names with argon2 password hashes from a file (web/users.py);
- proxy: a reverse proxy that authenticates (oauth2-proxy and the like) names the user in a
  header, trusted from the proxy's addresses only.
A browser then holds a signed session cookie (web/sessions.py): HttpOnly, SameSite=Strict,
Secure when the request came over TLS or a trusted proxy says it did. Changes also need the
X-Labeler header (app.py), which no cross-site form can send. `/metrics` takes its own token or
loopback. Failed sign-ins are slowed: each failure from an address doubles the wait before its
next try is heard (1 s, 2 s, ... 60 s); a try inside the wait is answered 429.
"""

from __future__ import annotations

import base64
import hmac
import ipaddress
import secrets
import time
from dataclasses import dataclass, field

from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response

from labeler.web import sessions
from labeler.web.users import check_password

MODES = ("token", "users", "proxy")
# Reachable without signing in: the login page and its assets, and the icon.
OPEN_PATHS = ("/login", "/api/login", "/favicon.ico", "/static/login.js", "/static/style.css")


@dataclass
class AuthConfig:
    mode: str
    key: bytes  # signs session cookies
    token: str | None = None  # token mode's login token; in any mode a bearer token for APIs
    users: dict[str, str] = field(default_factory=dict)
    user_header: str = "X-Forwarded-User"
    proxies: tuple[str, ...] = ()  # the reverse proxy's addresses
    metrics_token: str | None = None
    throttle: LoginThrottle = field(default_factory=lambda: LoginThrottle())


class LoginThrottle:
    """Failed sign-ins by client address: the wait before the next try is heard."""

    FIRST, LONGEST, REMEMBERED = 1.0, 60.0, 10_000

    def __init__(self) -> None:
        self.failures: dict[str, tuple[int, float]] = {}  # address -> (failures, next try)

    def wait(self, address: str, now: float | None = None) -> float:
        _, allowed = self.failures.get(address, (0, 0.0))
        return max(0.0, allowed - (now or time.monotonic()))

    def failed(self, address: str, now: float | None = None) -> None:
        count = self.failures.get(address, (0, 0.0))[0] + 1
        delay = min(self.LONGEST, self.FIRST * 2 ** (count - 1))
        if len(self.failures) >= self.REMEMBERED:  # bounded: forget the oldest
            self.failures.pop(next(iter(self.failures)))
        self.failures[address] = (count, (now or time.monotonic()) + delay)

    def succeeded(self, address: str) -> None:
        self.failures.pop(address, None)


def client_address(request: Request) -> str:
    return request.client.host if request.client else ""


def is_loopback_address(address: str) -> bool:
    try:
        return ipaddress.ip_address(address).is_loopback
    except ValueError:
        return False


def _bearer(request: Request) -> str | None:
    """The token of `Authorization: Bearer TOKEN`, or the password of Basic (what Label
    Studio's ML backend connection sends)."""
    scheme, _, value = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() == "basic":
        try:
            value = base64.b64decode(value.strip()).decode().partition(":")[2]
        except (ValueError, UnicodeDecodeError):
            return None
        return value or None
    return value.strip() if scheme.lower() == "bearer" and value.strip() else None


def _same(secret: str | None, offered: str | None) -> bool:
    return bool(secret and offered) and hmac.compare_digest(secret.encode(), offered.encode())


def signed_in_user(auth: AuthConfig, request: Request) -> str | None:
    """Who sent `request`, or None."""
    if _same(auth.token, _bearer(request)):
        return "token" if auth.mode == "token" else "api"
    if auth.mode == "proxy":
        if client_address(request) in auth.proxies:
            return request.headers.get(auth.user_header) or None
        return None
    return sessions.verify(auth.key, request.cookies.get(sessions.COOKIE))


def over_tls(auth: AuthConfig, request: Request) -> bool:
    if request.url.scheme == "https":
        return True
    forwarded = request.headers.get("x-forwarded-proto", "")
    return client_address(request) in auth.proxies and forwarded.lower() == "https"


def refusal(auth: AuthConfig, request: Request) -> Response | None:
    """The answer to a request that may not go on, or None. Sets `request.state.user`."""
    path = request.url.path
    request.state.user = None
    if path == "/metrics":
        if is_loopback_address(client_address(request)) or _same(auth.metrics_token,
                                                                 _bearer(request)):
            return None
        return _unauthorized("/metrics needs LABELER_METRICS_TOKEN as a bearer token, or "
                             "loopback")
    request.state.user = signed_in_user(auth, request)
    if request.state.user or path in OPEN_PATHS:
        return None
    if path == "/" and request.method in ("GET", "HEAD"):
        return RedirectResponse("/login", status_code=303)
    return _unauthorized("sign in first (/login), or send Authorization: Bearer TOKEN")


def _unauthorized(detail: str) -> Response:
    return JSONResponse({"detail": detail}, status_code=401,
                        headers={"WWW-Authenticate": 'Bearer realm="labeler"'})


def signed_in(auth: AuthConfig, request: Request, user: str, response: Response) -> Response:
    """`response` with the session cookie of `user` set."""
    auth.throttle.succeeded(client_address(request))
    response.set_cookie(sessions.COOKIE, sessions.issue(auth.key, user),
                        max_age=sessions.LIFETIME, httponly=True, samesite="strict",
                        secure=over_tls(auth, request), path="/")
    return response


def check_credentials(auth: AuthConfig, fields: dict) -> str | None:
    """The user that `fields` (token, or user and password) sign in, or None."""
    if auth.mode == "token":
        return "token" if _same(auth.token, str(fields.get("token") or "")) else None
    if auth.mode == "users":
        name, password = str(fields.get("user") or ""), str(fields.get("password") or "")
        return name if name and check_password(auth.users, name, password) else None
    return None


def auth_config(mode: str | None, *, key: bytes, web_token: str | None,
                metrics_token: str | None, users: dict[str, str] | None = None,
                user_header: str = "X-Forwarded-User", proxies: tuple[str, ...] = ()
                ) -> AuthConfig | None:
    """The sign-in `mode` asks for; token mode makes its token unless `web_token` is set."""
    if mode is None:
        return None
    token = web_token or (secrets.token_urlsafe(24) if mode == "token" else None)
    return AuthConfig(mode, key, token=token, users=users or {}, user_header=user_header,
                      proxies=proxies, metrics_token=metrics_token)
