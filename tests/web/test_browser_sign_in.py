"""Signing in with a real headless Chromium: the login page first, then the page; a form on
another site posting to labeler is refused."""

from __future__ import annotations

import csv
import io
import json
import subprocess
import sys

import pytest

from tests.conftest import REPO, cli_env
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


def test_a_reviewer_corrects_five_with_the_keyboard_and_accepts_the_rest_above_a_threshold(
    page, team_server, tmp_path
):
    page.goto(team_server.url + "/login")
    page.fill("#user", "alice")
    page.fill("#password", "correct horse")
    page.click("#sign-in")
    page.wait_for_selector("#signed-in:visible")
    page.set_input_files("#folder", str(REPO / "examples" / "images"))
    page.click("#upload")
    page.wait_for_selector("#job-state:has-text('done')", timeout=120_000)
    page.wait_for_function("() => document.querySelectorAll('#grid .tile').length === 40")
    # Open the first tile; each number key corrects and moves on to the next image.
    page.click("#grid .tile >> nth=0")
    page.wait_for_selector("#detail[open]")
    corrected = {}
    for _ in range(5):
        path = page.inner_text("#detail-path")
        current = page.inner_text("#detail-classes .choice.current").split(" ", 1)[1]
        key = "1" if current != "airplane" else "2"  # a class it is not
        page.keyboard.press(key)
        page.wait_for_function("p => document.querySelector('#detail-path').textContent !== p",
                               arg=path)
        corrected[path] = "airplane" if key == "1" else "automobile"
    # Enter accepts the model's label of the sixth.
    accepted = page.inner_text("#detail-path")
    page.keyboard.press("Enter")
    page.wait_for_function("p => document.querySelector('#detail-path').textContent !== p",
                           arg=accepted)
    page.keyboard.press("Escape")
    page.wait_for_selector("#review-state:has-text('6 reviewed · 5 corrected')")
    assert page.locator("#grid .tile.corrected").count() == 5
    assert page.locator("#grid .tile.reviewed").count() == 6
    page.check("#unreviewed-only")
    page.wait_for_function("() => document.querySelectorAll('#grid .tile').length === 34")
    page.uncheck("#unreviewed-only")

    # Accept every label at 0.9 or above: the count first, then the action.
    page.fill("#accept-above", "0.9")
    page.click("#accept-count")
    page.wait_for_selector("#accept-confirm:visible")
    expected = int(page.inner_text("#accept-text").split(" ")[0])
    page.click("#accept-go")
    page.wait_for_selector(f"#review-state:has-text('{6 + expected} reviewed')")

    job = page.inner_text("#job-id")
    status, raw = http(f"{team_server.url}/api/jobs/{job}/reviewed.csv",
                       headers={"Authorization": f"Bearer {TOKEN}"})
    rows = list(csv.DictReader(io.StringIO(raw.decode())))
    assert status == 200 and len(rows) == 6 + expected
    by_path = {row["path"].split("/uploads/", 1)[1].split("/", 1)[1]: row for row in rows}
    assert {p: r["label"] for p, r in by_path.items() if r["source"] == "corrected"} == corrected
    assert by_path[accepted]["source"] == "accepted"
    assert {r["reviewer"] for r in rows} == {"alice"}
    status, raw = http(f"{team_server.url}/api/jobs/{job}",
                       headers={"Authorization": f"Bearer {TOKEN}"})
    progress = json.loads(raw)
    assert (progress["reviewed"], progress["corrected"]) == (6 + expected, 5)
