"""What every request passes before a route, as plain ASGI middleware (Starlette's
`@app.middleware("http")` wraps each request in tasks and streams: a tenth of a millisecond
that real-time requests felt): sign-in when it is on (web/auth.py), then the change header.

A request that changes anything must carry `X-Labeler`, which another site's page cannot send
without a CORS grant it never gets; /ml/ is Label Studio's, which cannot send it, and its
routes take JSON only, which a cross-site form cannot send either."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Receive, Scope, Send

from labeler.web.auth import AuthConfig, refusal

CSRF_HEADER = "x-labeler"
SAFE_METHODS = ("GET", "HEAD", "OPTIONS")


class Gate:
    def __init__(self, app: ASGIApp, auth: AuthConfig | None = None) -> None:
        self.app, self.auth = app, auth

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request = Request(scope)
        refused = refusal(self.auth, request) if self.auth is not None else None
        if refused is None and scope["method"] not in SAFE_METHODS and \
                CSRF_HEADER not in request.headers and not scope["path"].startswith("/ml/"):
            refused = JSONResponse({"detail": f"missing {CSRF_HEADER} header"},
                                   status_code=403)
        if refused is not None:
            await refused(scope, receive, send)
            return
        await self.app(scope, receive, send)
