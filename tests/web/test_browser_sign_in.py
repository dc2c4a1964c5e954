"""Signing in with a real headless Chromium: the login page first, then the page; a form on
another site posting to labeler is refused."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from tests.conftest import cli_env
from tests.web.conftest import http, start_server, stop_server

TOKEN = "browser-token-0123456789"


@pytest.fixture
def team_server(tmp_path):
    users = tmp_path / "users.txt"
    subprocess.run([sys.executable, "-m", "labeler.cli.main", "users", "add", str(users),
                    "alice", "--password-stdin"], input="correct horse\n", text=True,
                   check=True, capture_output=True, env=cli_env(tmp_path))
    server = start_server("--auth", "users", "--users", str(users), LABELER_WEB_TOKEN=TOKEN)
    yield server
    stop_server(server)


def _jobs(server) -> list:
    status, raw = http(server.url + "/api/jobs",
                       headers={"Authorization": f"Bearer {TOKEN}"})
    assert status == 200
    return json.loads(raw)["jobs"]


def test_a_browser_signs_in_and_a_cross_site_form_is_refused(page, team_server):
    page.goto(team_server.url)
    page.wait_for_selector("#user:visible")
    assert page.url.endswith("/login")
    page.fill("#user", "alice")
    page.fill("#password", "wrong horse")
    page.click("#sign-in")
    page.wait_for_selector("#login-error:visible")
    assert "wrong user name or password" in page.inner_text("#login-error")
    page.wait_for_timeout(1100)  # a failed sign-in makes the next wait a second
    page.fill("#password", "correct horse")
    page.click("#sign-in")
    page.wait_for_selector("#signed-in:visible")
    assert page.inner_text("#user-name") == "alice"
    cookie = next(c for c in page.context.cookies() if c["name"] == "labeler_session")
    assert cookie["httpOnly"] and cookie["sameSite"] == "Strict"

    # Another site's page, in the same signed-in browser, posts a form at labeler.
    before = len(_jobs(team_server))
    page.set_content(f"""<form id="f" method="post" enctype="multipart/form-data"
        action="{team_server.url}/api/jobs"><input type="hidden" name="top_k" value="1">
        </form>""")
    with page.expect_navigation() as navigation:
        page.eval_on_selector("#f", "form => form.submit()")
    assert navigation.value.status in (401, 403)
    assert len(_jobs(team_server)) == before

    page.goto(team_server.url)
    page.click("#sign-out")
    page.wait_for_url("**/login")
    assert http(team_server.url + "/api/jobs")[0] == 401
