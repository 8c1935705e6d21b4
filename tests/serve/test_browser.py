"""The web page in a real headless Chromium (the OS's chromium + chromium-driver, driven by
selenium; nothing downloads a browser): ask, see the streamed answer, give a thumbs-down with a
correction, and find it in ``assistant-builder conversations --json``; with ``--retrieval``, the
sources of the answer (file and lines) appear under it."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys

import pytest
from support.serving import running

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
DRIVER = shutil.which("chromedriver")

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(
        CHROMIUM is None or DRIVER is None,
        reason="needs the OS packages chromium and chromium-driver (./dev.sh test installs them)",
    ),
]


@pytest.fixture
def browser(tmp_path):
    webdriver = pytest.importorskip("selenium.webdriver", reason="selenium is in the dev extra")
    from selenium.webdriver.chrome.service import Service

    os.environ["SE_OFFLINE"] = "true"  # Selenium Manager must never fetch a driver or browser
    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for flag in (
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--no-first-run",
        "--disable-dev-shm-usage",
        f"--user-data-dir={tmp_path / 'profile'}",
    ):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(executable_path=str(DRIVER)), options=options)
    driver.set_page_load_timeout(60)
    yield driver
    driver.quit()


def test_page_streams_an_answer_and_records_a_correction(tiny_run, browser) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    ws, run_id = tiny_run
    wait = WebDriverWait(browser, 60)
    with running(ws, run_id) as srv:
        browser.get(f"{srv.url}/")
        wait.until(lambda d: d.find_element(By.TAG_NAME, "body").get_attribute("data-ready"))
        assert browser.find_element(By.ID, "model").text == run_id
        # Record every text the answer bubble shows, to see it grow while streaming.
        browser.execute_script(
            "window.seen = [];"
            "new MutationObserver(() => {"
            "  const t = document.querySelector('.assistant .text');"
            "  if (t) window.seen.push(t.textContent);"
            "}).observe(document.getElementById('messages'),"
            "  {subtree: true, childList: true, characterData: true});"
        )
        browser.find_element(By.ID, "input").send_keys("How do I reset my password?")
        browser.find_element(By.ID, "send").click()
        reply = wait.until(lambda d: d.find_element(By.CSS_SELECTOR, ".assistant.done"))
        answer = reply.find_element(By.CSS_SELECTOR, ".text").text
        assert answer and "Error" not in answer
        seen = [s for s in browser.execute_script("return window.seen") if s]
        assert len(set(seen)) > 1, "the answer appeared in several streamed pieces"
        reply.find_element(By.CSS_SELECTOR, "button.down").click()
        box = reply.find_element(By.CSS_SELECTOR, "textarea.correction")
        box.send_keys("Use the 'Forgot password' link on the sign-in page.")
        reply.find_element(By.CSS_SELECTOR, "button.submit-feedback").click()
        wait.until(
            lambda d: "recorded" in reply.find_element(By.CSS_SELECTOR, ".feedback-status").text
        )
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "assistant_builder",
            f"--workspace={ws.root}",
            "conversations",
            "--json",
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 0, out.stderr
    exchange = json.loads(out.stdout)["conversations"][0]["exchanges"][0]
    assert exchange["question"] == "How do I reset my password?"
    assert exchange["answer"].split() == answer.split()
    assert exchange["feedback"] == [
        {
            "rating": "down",
            "correction": "Use the 'Forgot password' link on the sign-in page.",
            "created": exchange["feedback"][0]["created"],
        }
    ]


FAQ = """# Account FAQ

## How do I reset my password?

Use the reset link on the sign-in page; the e-mail arrives within minutes.

## Do you ship abroad?

We ship to 40 countries from our two warehouses.
"""


def test_page_shows_the_sources_with_retrieval(tiny_run, browser, tmp_path) -> None:
    """A workspace with one ingested FAQ file and its retrieval index, as `ingest` and
    `dataset` build them; the page lists the passage the answer was given as file:lines."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    from assistant_builder.retrieval.index import build_workspace_index
    from assistant_builder.sources.ingest import ingest_paths, load_items

    ws, run_id = tiny_run
    faq = tmp_path / "faq.md"
    faq.write_text(FAQ, encoding="utf-8")
    report = ingest_paths(ws, [faq])
    assert not report.skipped, report.skipped
    index = build_workspace_index(ws, load_items(ws))
    reset = next(p for p in index.passages if p.title == "How do I reset my password?")
    # Where the FAQ entry is in the file: its heading to its answer.
    lines = FAQ.splitlines()
    first = lines.index("## How do I reset my password?") + 1
    last = next(i for i, line in enumerate(lines, 1) if line.startswith("Use the reset link"))
    assert (reset.line_start, reset.line_end) == (first, last)
    expected = f"{reset.source}:{first}-{last}"
    assert reset.source is not None and reset.source.endswith("faq.md")
    wait = WebDriverWait(browser, 60)
    with running(ws, run_id, retrieval=True) as srv:
        browser.get(f"{srv.url}/")
        wait.until(lambda d: d.find_element(By.TAG_NAME, "body").get_attribute("data-ready"))
        browser.find_element(By.ID, "input").send_keys("How can I reset my password?")
        browser.find_element(By.ID, "send").click()
        reply = wait.until(lambda d: d.find_element(By.CSS_SELECTOR, ".assistant.done"))
        assert reply.find_element(By.CSS_SELECTOR, ".text").text
        shown = [e.text for e in reply.find_elements(By.CSS_SELECTOR, ".sources .source")]
        assert shown and shown[0] == expected, shown
        assert reply.find_element(By.CSS_SELECTOR, ".sources").text.startswith("Sources: ")
        # The page's list is the server's: the log keeps the same passages with the answer.
        logged = srv.log.conversations()[0]["exchanges"][0]["sources"]
    assert [f"{s['file']}:{s['lines']}" for s in logged if s.get("file")] == shown
