"""The sign-in routes: the login page, `/login?token=` (token mode), `/api/login` and
`/api/logout`. Without sign-in configured, /login leads to the page."""

from __future__ import annotations

import math
from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.responses import FileResponse, JSONResponse, RedirectResponse, Response
from starlette.concurrency import run_in_threadpool

from labeler.web import sessions
from labeler.web.auth import AuthConfig, check_credentials, client_address, signed_in

LOGIN_PAGE = Path(__file__).resolve().parent / "static" / "login.html"


def add_login_routes(app: FastAPI, auth: AuthConfig | None) -> None:
    @app.get("/login", include_in_schema=False)
    def login_page(request: Request, token: str | None = None) -> Response:
        if auth is None:
            return RedirectResponse("/", status_code=303)
        if token is None or auth.mode != "token":
            return FileResponse(LOGIN_PAGE)
        if refused := _throttled(auth, request):
            return refused
        if check_credentials(auth, {"token": token}) is None:
            auth.throttle.failed(client_address(request))
            return FileResponse(LOGIN_PAGE, status_code=401)
        return signed_in(auth, request, "token", RedirectResponse("/", status_code=303))

    @app.get("/api/login", summary="How to sign in, and who is signed in")
    def login_mode(request: Request) -> dict:
        return {"mode": auth.mode if auth else None,
                "user": getattr(request.state, "user", None)}

    @app.post("/api/login", summary="Sign in: {token} or {user, password}; sets a session")
    async def login(request: Request) -> Response:
        if auth is None or auth.mode == "proxy":
            return JSONResponse({"detail": "sign-in here is not on: nothing to sign in to"},
                                status_code=404)
        if refused := _throttled(auth, request):
            return refused
        try:
            fields = await request.json()
        except ValueError:
            fields = None
        if not isinstance(fields, dict):
            return JSONResponse({"detail": "send JSON: {token} or {user, password}"},
                                status_code=422)
        # argon2 takes tens of milliseconds of CPU: off the event loop.
        user = await run_in_threadpool(check_credentials, auth, fields)
        if user is None:
            auth.throttle.failed(client_address(request))
            return JSONResponse({"detail": "wrong user name or password" if auth.mode ==
                                 "users" else "wrong token"}, status_code=401)
        return signed_in(auth, request, user, JSONResponse({"user": user}))

    @app.post("/api/logout", summary="Sign out")
    def logout() -> Response:
        response = JSONResponse({"user": None})
        response.delete_cookie(sessions.COOKIE, path="/")
        return response


def _throttled(auth: AuthConfig, request: Request) -> Response | None:
    wait = auth.throttle.wait(client_address(request))
    if wait <= 0:
        return None
    return JSONResponse({"detail": f"too many failed sign-ins: try again in {math.ceil(wait)} s"},
                        status_code=429, headers={"Retry-After": str(math.ceil(wait))})
