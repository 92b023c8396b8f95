"""report.html in a real browser: headless Chromium opens the sample builds' pages with no network.

Every chart must have rendered (each figure's SVG laid out with a non-empty box and at least one drawn
mark), with no page error, no console error and no request leaving the file. A full-page screenshot of
each is kept in ``$CURATE_ARTEFACTS`` (default ``build/test-artefacts/``). Chromium is Debian's
``chromium`` driven through playwright (which never downloads a browser here); the test skips when
either is missing, unless ``CURATE_REQUIRE_BROWSER=1`` (CI) makes that a failure.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

import pytest

from tests.conftest import ROOT

CHROMIUM = os.environ.get("CURATE_CHROMIUM", "/usr/bin/chromium")
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync"]
ARTEFACTS = Path(os.environ.get("CURATE_ARTEFACTS", ROOT / "build" / "test-artefacts"))

# Per figure: is its SVG laid out, how many data marks has it, how many of them have a visible box
MEASURE = """() => [...document.querySelectorAll("figure.chart")].map(f => {
  const svg = f.querySelector("svg");
  const box = svg ? svg.getBoundingClientRect() : {width: 0, height: 0};
  const marks = svg ? [...svg.querySelectorAll(".mark")] : [];
  const drawn = marks.filter(m => { const b = m.getBBox(); return b.width > 0 || b.height > 0; });
  return {caption: (f.querySelector("figcaption") || {}).textContent || "", width: box.width,
          height: box.height, marks: marks.length, drawn: drawn.length};
})"""


def _playwright():
    if not Path(CHROMIUM).exists() or shutil.which(CHROMIUM) is None:
        message = f"{CHROMIUM} is not installed (apt-get install chromium)"
    else:
        try:
            from playwright.sync_api import sync_playwright

            return sync_playwright
        except ImportError:
            message = "playwright is not installed (pip install -e '.[dev]')"
    if os.environ.get("CURATE_REQUIRE_BROWSER") == "1":
        pytest.fail(message)
    pytest.skip(message)


@pytest.mark.parametrize("build", ["stage1_build", "stage2_build"])
def test_every_chart_renders_in_chromium_offline(build: str, request: pytest.FixtureRequest) -> None:
    sync_playwright = _playwright()
    root: Path = request.getfixturevalue(build)
    page_path = root / "report.html"
    errors: list[str] = []
    requests: list[str] = []
    with tempfile.TemporaryDirectory() as profile, sync_playwright() as p:
        browser = p.chromium.launch_persistent_context(profile, executable_path=CHROMIUM, args=FLAGS,
                                                       headless=True, viewport={"width": 1200, "height": 900},
                                                       offline=True)
        try:
            page = browser.new_page()
            page.on("pageerror", lambda err: errors.append(f"page error: {err}"))
            page.on("console", lambda msg: errors.append(f"console {msg.type}: {msg.text}")
                    if msg.type == "error" else None)
            page.on("request", lambda req: requests.append(req.url))
            page.goto(page_path.as_uri(), wait_until="load")
            ARTEFACTS.mkdir(parents=True, exist_ok=True)
            shot = ARTEFACTS / f"report-{build.removesuffix('_build')}.png"
            page.screenshot(path=str(shot), full_page=True)
            page.evaluate("() => document.querySelectorAll('details').forEach(d => { d.open = true; })")
            figures = page.evaluate(MEASURE)
        finally:
            browser.close()
    assert not errors, errors
    assert requests == [page_path.as_uri()], requests  # the page itself and nothing else
    assert len(figures) >= 5
    empty = [f["caption"] for f in figures if not (f["width"] > 0 and f["height"] > 0 and f["marks"] > 0
                                                   and f["drawn"] == f["marks"])]
    assert not empty, empty
    assert shot.stat().st_size > 10_000
