"""The review pages in a real browser (headless system Chromium driven by Playwright): sign in, the
queue, a trajectory with its signal marked, a label by key press read back from ClickHouse, and
basic accessibility (labelled controls, contrast, keyboard reach, visible focus). Screenshots of each
page go to test-artifacts/."""

from __future__ import annotations

import pytest

from streams.cli import main
from tests.support.chdb import chdb_dsn, count, shared_client
from tests.support.review import assert_accessible, review_server, screenshot

pytestmark = pytest.mark.integration
FIXTURES = "tests/fixtures"
TOKEN = "browser-test-token"


def labels_of(database: str, tid: str) -> list[tuple[str, str, str]]:
    return [tuple(row) for row in shared_client().query(
        f"SELECT reviewer, label, note FROM {database}.labels FINAL WHERE trajectory_id = {{t:String}}",
        parameters={"t": tid}).result_rows]


def test_sign_in_review_a_trajectory_and_label_it_by_keyboard(ch, browser_page, capsys) -> None:
    _, database = ch
    assert main(["load", "--dsn", chdb_dsn(), "--database", database,
                 f"{FIXTURES}/checklist.jsonl", f"{FIXTURES}/tau_bench_2.json"]) == 0
    capsys.readouterr()
    page = browser_page
    with review_server(database, token=TOKEN) as url:
        answer = page.goto(url + "/")
        assert answer is not None and answer.status == 401  # the login form, not the queue
        page.fill("#token", "not-it")
        page.press("#token", "Enter")
        assert page.locator("[role=alert]").inner_text().startswith("That token is not")
        page.fill("#token", TOKEN)
        page.press("#token", "Enter")
        page.wait_for_selector("table.queue tbody tr")
        rows = page.locator("table.queue tbody tr")
        assert rows.count() == 30
        first = rows.nth(0)
        tid, second = first.get_attribute("data-id"), rows.nth(1).get_attribute("data-id")
        assert tid and second
        assert first.locator("td.reason").inner_text().startswith("top triage")  # what it was picked for
        screenshot(page, "review-queue")
        assert_accessible(page)

        page.keyboard.press("j")  # the first row, by keyboard
        assert page.evaluate("() => document.activeElement.textContent") == tid
        page.keyboard.press("Enter")
        page.wait_for_selector("ol.events")
        marks = page.locator("ol.events mark[data-signal]")
        assert marks.count() >= 1
        signal_type = marks.nth(0).get_attribute("data-signal")
        assert signal_type and signal_type.count(".") == 2  # e.g. execution.failure.invalid_args
        assert signal_type in marks.nth(0).inner_text()  # labelled with its type
        assert page.locator("ul.reasons li").count() >= 1  # the triage reasons
        assert page.locator("text=1 of 30").count() == 1
        screenshot(page, "review-trajectory")
        assert_accessible(page)

        page.keyboard.press("1")
        page.wait_for_selector("p.saved")
        assert "failure" in page.locator("p.saved").inner_text()
        assert labels_of(database, tid) == [("tester", "failure", "")]

        page.keyboard.press("n")
        page.keyboard.type("fine after all")
        page.keyboard.press("Escape")
        page.keyboard.press("2")
        page.wait_for_selector("p.saved >> text=fine")
        assert labels_of(database, tid) == [("tester", "fine", "fine after all")]  # replaced, not added
        screenshot(page, "review-labelled")

        page.keyboard.press("j")
        page.wait_for_selector("text=2 of 30")
        assert page.url.split("/t/", 1)[1].split("?")[0] == second
    assert count(shared_client(), f"SELECT count() FROM {database}.labels FINAL") == 1
