"""The review server of a test: ``signals serve``'s coroutine in a thread of the test process, on the
process's one chDB path (``tests.support.chdb``), and the system Chromium for the browser tests."""

from __future__ import annotations

import asyncio
import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from tests.support.chdb import chdb_dsn
from tests.support.kafka import REPO

CHROMIUM = Path("/usr/bin/chromium")  # Debian's package (`.ci/run` installs it); never `playwright install`
ARTIFACTS = REPO / "test-artifacts"


@contextmanager
def review_server(database: str, *, token: str = "", reviewer: str = "tester") -> Iterator[str]:
    """The base URL of a review server over ``database`` while the block runs."""
    from streams.review.server import serve
    ready, loop_box, failure = threading.Event(), [], []
    stop_box: list[asyncio.Event] = []
    url_box: list[str] = []

    async def main() -> None:
        stop = asyncio.Event()
        stop_box.append(stop)
        loop_box.append(asyncio.get_running_loop())

        def started(url: str) -> None:
            url_box.append(url)
            ready.set()

        await serve(chdb_dsn(), database, host="127.0.0.1", port=0, token=token, reviewer=reviewer,
                    started=started, stop=stop)

    def run() -> None:
        try:
            asyncio.run(main())
        except BaseException as error:  # reported to the test below
            failure.append(error)
            ready.set()

    thread = threading.Thread(target=run, name="review-server", daemon=True)
    thread.start()
    assert ready.wait(120), "the review server did not start"
    if failure:
        raise failure[0]
    try:
        yield url_box[0]
    finally:
        loop_box[0].call_soon_threadsafe(stop_box[0].set)
        thread.join(60)


def chromium() -> Path:
    """The system Chromium; fails (not skips) when SIGNALS_REQUIRE_INTEGRATION=1 and it is missing."""
    if not CHROMIUM.exists():
        if os.environ.get("SIGNALS_REQUIRE_INTEGRATION") == "1":
            pytest.fail(f"{CHROMIUM} is missing: `.ci/run` installs Debian's chromium")
        pytest.skip(f"{CHROMIUM} is missing (apt-get install chromium chromium-driver)")
    return CHROMIUM


@pytest.fixture
def browser_page() -> Iterator[Any]:
    """A Playwright page of headless system Chromium (1280x900)."""
    from playwright.sync_api import sync_playwright
    executable = chromium()
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(executable), headless=True)
        try:
            context = browser.new_context(viewport={"width": 1280, "height": 900})
            yield context.new_page()
            context.close()
        finally:
            browser.close()


def screenshot(page: Any, name: str) -> Path:
    ARTIFACTS.mkdir(exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path


# --- basic accessibility, measured in the page --------------------------------------------------
UNLABELLED_JS = """() => [...document.querySelectorAll('input:not([type=hidden]), select, textarea, button')]
  .filter(el => !(el.labels && el.labels.length) && !el.getAttribute('aria-label')
                && !el.getAttribute('aria-labelledby') && !(el.tagName === 'BUTTON' && el.textContent.trim()))
  .map(el => el.outerHTML.slice(0, 120))"""

# WCAG 2 contrast of every element's own text against its effective background (AA: 4.5, large text 3).
CONTRAST_JS = """() => {
  const rgb = s => (s.match(/[\\d.]+/g) || []).map(Number);
  const lum = ([r, g, b]) => { const f = c => { c /= 255; return c <= 0.03928 ? c / 12.92 : ((c + 0.055) / 1.055) ** 2.4; };
                              return 0.2126 * f(r) + 0.7152 * f(g) + 0.0722 * f(b); };
  const background = el => { for (let e = el; e; e = e.parentElement) { const c = rgb(getComputedStyle(e).backgroundColor);
                              if (c.length === 3 || c[3] > 0.5) return c.slice(0, 3); } return [255, 255, 255]; };
  const out = [];
  for (const el of document.querySelectorAll('body *')) {
    const own = [...el.childNodes].some(n => n.nodeType === 3 && n.textContent.trim());
    const box = el.getBoundingClientRect();
    if (!own || box.width === 0 || box.height === 0 || getComputedStyle(el).visibility === 'hidden') continue;
    const style = getComputedStyle(el), a = lum(rgb(style.color)), b = lum(background(el));
    const ratio = (Math.max(a, b) + 0.05) / (Math.min(a, b) + 0.05);
    const size = parseFloat(style.fontSize), bold = parseInt(style.fontWeight) >= 700;
    const need = size >= 24 || (bold && size >= 18.66) ? 3 : 4.5;
    if (ratio < need) out.push(`${el.tagName}.${el.className} ${ratio.toFixed(2)} < ${need}: ${el.textContent.trim().slice(0, 40)}`);
  }
  return out;
}"""

MARK_FOCUSABLES_JS = """() => { const all = [...document.querySelectorAll(
  'a[href], button, input:not([type=hidden]), select, textarea')].filter(el => !el.disabled);
  all.forEach((el, i) => el.dataset.a11y = String(i)); return all.length; }"""

FOCUSED_JS = """() => { const el = document.activeElement; if (!el || el === document.body) return null;
  const s = getComputedStyle(el);
  const ring = (s.outlineStyle !== 'none' && parseFloat(s.outlineWidth) >= 2) || s.boxShadow !== 'none';
  return {index: el.dataset.a11y || null, ring: ring, what: el.outerHTML.slice(0, 80)}; }"""


def tab_through(page: Any) -> tuple[set[str], list[str], int]:
    """Tab across the whole page: (indices of the controls reached, those reached without a visible
    focus ring, how many controls there are)."""
    total = int(page.evaluate(MARK_FOCUSABLES_JS))
    reached: set[str] = set()
    no_ring: list[str] = []
    page.evaluate("() => document.activeElement && document.activeElement.blur()")
    for _ in range(total + 3):
        page.keyboard.press("Tab")
        focused = page.evaluate(FOCUSED_JS)
        if focused and focused["index"] is not None:
            reached.add(focused["index"])
            if not focused["ring"]:
                no_ring.append(focused["what"])
    return reached, no_ring, total


def assert_accessible(page: Any) -> None:
    """Labelled controls, sufficient contrast, every control reached by Tab with a visible focus ring."""
    assert page.evaluate(UNLABELLED_JS) == []
    assert page.evaluate(CONTRAST_JS) == []
    reached, no_ring, total = tab_through(page)
    assert total > 0
    assert reached == {str(i) for i in range(total)}
    assert no_ring == []
