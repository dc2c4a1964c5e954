"""Sign-in on a real `labeler serve`: a token, named users with argon2 hashes, and a trusted
proxy's user header; every job route behind it; cookies, CSRF and slowed failures."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from http.client import HTTPConnection, HTTPResponse

import pytest

from tests.conftest import cli_env
from tests.waiting import wait_until
from tests.web.conftest import http, multipart, start_server, stop_server
from tests.web.test_web_api import sample_files

TOKEN = "test-token-0123456789abcdef"
METRICS_TOKEN = "metrics-token-0123456789"
HEADERS = {"X-Labeler": "1"}
JOB_ROUTES = ["/api/health", "/api/jobs", "/api/jobs/{job}", "/api/jobs/{job}/items",
              "/api/jobs/{job}/image?index=0", "/api/jobs/{job}/results.csv",
              "/api/jobs/{job}/results.jsonl", "/api/jobs/{job}/results.parquet",
              "/api/jobs/{job}/labelstudio.json",
              "/api/jobs/{job}/labelstudio-config.xml", "/api/jobs/{job}/duplicates",
              "/static/app.js", "/openapi.json"]


@pytest.fixture(scope="module")
def token_server():
    server = start_server("--auth", "token", LABELER_WEB_TOKEN=TOKEN,
                          LABELER_METRICS_TOKEN=METRICS_TOKEN)
    yield server
    stop_server(server)


def _bearer(token: str = TOKEN) -> dict:
    return {"Authorization": f"Bearer {token}"}


def _uploaded(server) -> str:
    body, content_type = multipart(sample_files(2))
    status, raw = http(server.url + "/api/jobs", body,
                       {**HEADERS, **_bearer(), "Content-Type": content_type})
    assert status == 201, raw
    job = json.loads(raw)["job"]

    def done() -> bool:
        status, raw = http(f"{server.url}/api/jobs/{job}", headers=_bearer())
        return status == 200 and json.loads(raw)["state"] == "done"

    wait_until(done, 120, f"job {job} to finish", interval=0.3)
    return job


def _request(server, method: str, path: str, headers: dict | None = None,
             source: str | None = None) -> HTTPResponse:
    host, port = server.url.removeprefix("http://").split(":")
    connection = HTTPConnection(host, int(port), timeout=30,
                                            source_address=(source, 0) if source else None)
    connection.request(method, path, headers=headers or {})
    response = connection.getresponse()
    response.read()
    return response


def test_without_a_session_every_job_route_answers_401_and_the_page_sends_to_login(
    token_server
):
    job = _uploaded(token_server)
    for route in JOB_ROUTES:
        path = route.format(job=job)
        for method in ("GET", "HEAD"):
            response = _request(token_server, method, path)
            assert response.status == 401, (method, path)
            assert response.getheader("WWW-Authenticate", "").startswith("Bearer")
        assert _request(token_server, "GET", path, _bearer()).status == 200, path
    assert _request(token_server, "POST", "/api/label", HEADERS).status == 401
    page = _request(token_server, "GET", "/")
    assert (page.status, page.getheader("Location")) == (303, "/login")
    assert _request(token_server, "GET", "/login").status == 200
    # Prometheus: its own token, or loopback (which this test client is).
    assert _request(token_server, "GET", "/metrics").status == 200


def test_the_login_url_sets_a_strict_http_only_cookie_that_opens_the_api(token_server):
    response = _request(token_server, "GET", f"/login?token={TOKEN}")
    assert (response.status, response.getheader("Location")) == (303, "/")
    cookie = response.getheader("Set-Cookie")
    assert "HttpOnly" in cookie and "SameSite=strict" in cookie and "Secure" not in cookie
    session = {"Cookie": cookie.split(";")[0]}
    assert _request(token_server, "GET", "/api/jobs", session).status == 200
    me = json.loads(http(token_server.url + "/api/login", headers=session)[1])
    assert me == {"mode": "token", "user": "token"}
    # A form posted from another site carries no X-Labeler header: refused even with a session.
    body, content_type = multipart(sample_files(1))
    status, _ = http(token_server.url + "/api/jobs", body,
                     {**session, "Content-Type": content_type})
    assert status == 403
    # A forged or foreign cookie is no session.
    forged = {"Cookie": session["Cookie"][:-4] + "AAAA"}
    assert _request(token_server, "GET", "/api/jobs", forged).status == 401


def test_wrong_tokens_are_slowed_down(token_server):
    def attempt(token: str) -> tuple[int, dict]:
        status, raw = http(token_server.url + "/api/login", json.dumps({"token": token})
                           .encode(), {**HEADERS, "Content-Type": "application/json"})
        return status, json.loads(raw)

    assert attempt("wrong-token-1")[0] == 401
    status, body = attempt(TOKEN)  # even the right one waits its turn
    assert status == 429 and "try again in 1 s" in body["detail"]
    time.sleep(1.1)
    assert attempt("wrong-token-2")[0] == 401
    assert attempt(TOKEN)[0] == 429  # now 2 s
    time.sleep(2.1)
    assert attempt(TOKEN)[0] == 200


def test_named_users_sign_in_with_a_password(tmp_path):
    users = tmp_path / "users.txt"
    add = subprocess.run([sys.executable, "-m", "labeler.cli.main", "users", "add",
                          str(users), "alice", "--password-stdin"], input="correct horse\n",
                         text=True, capture_output=True, env=cli_env(tmp_path))
    assert add.returncode == 0, add.stderr
    assert users.read_text().startswith("alice:$argon2id$") and "correct" not in users.read_text()
    assert users.stat().st_mode & 0o077 == 0
    server = start_server("--auth", "users", "--users", str(users), LABELER_WEB_TOKEN=TOKEN)
    try:
        def sign_in(user: str, password: str) -> tuple[int, bytes]:
            return http(server.url + "/api/login",
                        json.dumps({"user": user, "password": password}).encode(),
                        {**HEADERS, "Content-Type": "application/json"})

        assert sign_in("alice", "correct horse") == (200, b'{"user":"alice"}')
        assert sign_in("alice", "wrong horse")[0] == 401
        time.sleep(1.1)
        assert sign_in("mallory", "correct horse")[0] == 401
        # The token is the API's bearer token in this mode, not a way to sign in a browser.
        assert _request(server, "GET", "/api/jobs", _bearer()).status == 200
        page = _request(server, "GET", f"/login?token={TOKEN}")
        assert page.status == 200 and page.getheader("Set-Cookie") is None
    finally:
        stop_server(server)


def test_a_proxy_names_the_user_only_from_its_own_address():
    server = start_server("--auth", "proxy", "--proxy-address", "127.0.0.2",
                          LABELER_WEB_TOKEN=TOKEN)
    try:
        named = {"X-Forwarded-User": "bob"}
        assert _request(server, "GET", "/api/jobs", named, source="127.0.0.2").status == 200
        assert _request(server, "GET", "/api/jobs", named, source="127.0.0.1").status == 401
        assert _request(server, "GET", "/api/jobs", {}, source="127.0.0.2").status == 401
        assert json.loads(http(server.url + "/api/login")[1]) == {"mode": "proxy", "user": None}
    finally:
        stop_server(server)
