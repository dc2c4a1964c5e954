"""The page in a real headless Chromium (Debian's, driven by Playwright): upload a handful of
images, wait for labels, filter, open the detail view, download the CSV and check it."""

from __future__ import annotations

import csv
import os
import re
from pathlib import Path

import pytest

from tests.conftest import REPO
from tests.web.conftest import CHROMIUM_ARGS, chromium_path, start_server, stop_server

# Set to a path to refresh the README's screenshot (docs/web-page.png) from this test.
SCREENSHOT = os.environ.get("LABELER_SCREENSHOT")


@pytest.fixture
def server():
    web = start_server()
    yield web
    stop_server(web)


def test_a_folder_upload_keeps_its_sub_folders(page, server):
    page.goto(server.url)
    page.set_input_files("#folder", str(REPO / "examples" / "images"))
    page.click("#upload")
    page.wait_for_selector("#job-state:has-text('done')", timeout=120_000)
    page.wait_for_function("() => document.querySelectorAll('#grid .tile').length === 40")
    paths = page.eval_on_selector_all("#grid .tile", "tiles => tiles.map(t => t.dataset.path)")
    assert "images/airplane/0000.jpg" in paths and len(set(paths)) == 40


def test_upload_label_filter_and_download_in_a_browser(page, server, tmp_path):
    samples = sorted((REPO / "examples" / "images").glob("*/000[01].jpg"))
    broken = tmp_path / "broken.png"
    broken.write_bytes(b"\x89PNG\r\n\x1a\n truncated")
    files = [*samples, broken]

    page.goto(server.url)
    page.wait_for_selector("#service:has-text('worker')")
    page.set_input_files("#files", [str(p) for p in files])
    page.click("#upload")
    page.wait_for_selector("#job-state:has-text('done')", timeout=120_000)
    tiles = page.locator("#grid .tile")
    tiles.nth(len(files) - 1).wait_for()
    assert tiles.count() == len(files)
    assert page.locator("#grid .tile.failed").count() == 1
    assert "20 labelled · 1 failed" in page.inner_text("#progress-text")

    # Filter by one label: only its tiles remain, as many as the menu says.
    option = page.locator("#label-filter option").nth(1)
    label, count = option.get_attribute("value"), option.inner_text()
    page.select_option("#label-filter", label)
    expected = int(re.search(r"\((\d+)\)", count).group(1))
    assert expected > 0
    # Waits for the reloaded grid: an empty grid mid-reload would pass `every` vacuously.
    page.wait_for_function("([l, n]) => { const t = [...document.querySelectorAll('#grid .tile')];"
                           " return t.length === n && t.every(x => x.dataset.label === l); }",
                           arg=[label, expected])

    # Needs review: only confidences under the threshold, least confident first.
    page.select_option("#label-filter", "")
    page.fill("#review-threshold", "0.6")
    page.dispatch_event("#review-threshold", "change")
    page.check("#review-only")
    page.wait_for_function("() => [...document.querySelectorAll('#grid .tile')].every("
                           "t => t.dataset.confidence !== '' && +t.dataset.confidence < 0.6)")
    review = int(page.inner_text("#review-count"))
    page.wait_for_function(f"() => document.querySelectorAll('#grid .tile').length === {review}")
    page.uncheck("#review-only")
    page.select_option("#sort", "confidence")
    # The grid empties while it reloads, so the first tile may briefly not exist.
    page.wait_for_function("() => document.querySelector('#grid .tile')?.classList"
                           ".contains('failed')")

    # Detail view: the top-k probabilities of one image.
    page.locator("#grid .tile:not(.failed)").first.click()
    page.wait_for_selector("#detail[open]")
    assert page.locator("#detail-topk tbody tr").count() == 5
    if SCREENSHOT:
        page.keyboard.press("Escape")
        page.select_option("#sort", "path")
        page.wait_for_timeout(1500)  # thumbnails
        page.screenshot(path=SCREENSHOT, full_page=True)
    else:
        page.keyboard.press("Escape")

    with page.expect_download() as download:
        page.click("#dl-csv")
    saved = Path(download.value.path())
    rows = list(csv.DictReader(saved.open(encoding="utf-8")))
    assert len(rows) == len(files)
    # A browser sends bare file names; same-named files are all kept (0000.jpg, 0000-1.jpg...).
    assert len({r["path"] for r in rows}) == len(files)
    assert [r["path"] for r in rows if r["error"]] == ["broken.png"]
    assert all(r["label"] and 0 < float(r["confidence"]) <= 1 for r in rows if not r["error"])


@pytest.mark.parametrize("viewport", [(390, 844), (1280, 900)], ids=["phone", "desktop"])
def test_the_page_fits_the_screen_and_the_detail_view_is_readable(server, viewport):
    from playwright.sync_api import sync_playwright

    width, height = viewport
    samples = sorted((REPO / "examples" / "images").glob("*/0000.jpg"))[:4]
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium_path(),
                                             args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": width, "height": height})
        page.goto(server.url)
        page.set_input_files("#files", [str(p) for p in samples])
        page.click("#upload")
        page.wait_for_selector("#job-state:has-text('done')", timeout=120_000)
        page.locator("#grid .tile").nth(len(samples) - 1).wait_for()
        # The picker names the open job, not a placeholder.
        job = page.inner_text("#job-id")
        page.wait_for_function("j => document.querySelector('#job-picker').value === j", arg=job)
        overflow = page.evaluate("() => document.documentElement.scrollWidth - innerWidth")
        assert overflow <= 0, f"{overflow} px wider than the {width} px screen"
        names = page.eval_on_selector_all(
            "#grid .tile", "ts => ts.map(t => [t.dataset.path, t.querySelector('.name')"
            ".textContent, t.querySelector('.name').getBoundingClientRect().width])")
        assert all(path.endswith(name) and shown > 0 for path, name, shown in names)

        page.locator("#grid .tile").first.click()
        page.wait_for_selector("#detail[open]")
        page.wait_for_function("() => document.querySelector('#detail-image').complete")
        assert page.evaluate(
            "() => document.querySelector('#detail-image').getBoundingClientRect().width") >= 192
        bars = page.eval_on_selector_all(
            "#detail-topk tbody tr",
            "rows => rows.map(r => [parseFloat(r.cells[2].textContent.replace('<', '')),"
            " r.querySelector('.bar').getBoundingClientRect().width,"
            " r.querySelector('.track').getBoundingClientRect().width])")
        for percent, bar, cell in bars:
            # Each bar is its probability's share of its track, within a pixel and a half.
            assert abs(bar - max(0.5, percent) / 100 * cell) <= 1.5, bars
        assert bars[0][1] > 40
        assert page.evaluate("() => document.documentElement.scrollWidth - innerWidth") <= 0
        browser.close()
