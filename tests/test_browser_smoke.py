"""One real-browser smoke test: `marktwijzer ui` on a free port with a copy of the real index, Debian's
headless chromium (installed by `make browser`, which `make test` runs) driven by Playwright.

Asks a question on the chat page and checks the answer and a source title are on the page, then
opens the Bronnen and Evaluaties pages (running the shipped dev set). The UI server is the session's
`ui_server` (tests/conftest.py), shared with tests/test_workplace_browser.py. Screenshots of the three pages
are written to benchmarks/results/screenshots/{chat,sources,evaluations}.png (gitignored)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
SHOTS = REPO / "benchmarks" / "results" / "screenshots"
CHROMIUM = os.environ.get("MARKTWIJZER_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [  # as root, offline: no sandbox, no background connections to Google
    "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]
QUESTION = "Hoeveel vacatures stonden er open in regio Amersfoort?"
TITLE = "Regio in Beeld 2025-2026 Amersfoort"


def test_browser_chat_sources_and_evaluations(ui_server: str) -> None:
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} not found: `make browser` installs Debian's chromium (make test does it)")
    from playwright.sync_api import expect, sync_playwright

    SHOTS.mkdir(parents=True, exist_ok=True)
    expect.set_options(timeout=120_000)  # the first page load also loads the index and the model
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 1800})
            page.set_default_timeout(120_000)
            page.goto(ui_server)

            # Chat: first visit, AI notice, a question, the answer with its sources.
            expect(page.get_by_text("Voorbeeldvragen")).to_be_visible()
            expect(page.get_by_text("Je praat met een AI-assistent").first).to_be_visible()
            box = page.locator('textarea[data-testid="stChatInputTextArea"]')
            box.fill(QUESTION)
            box.press("Enter")
            answer = page.locator(".mw-answer").first
            expect(answer).to_be_visible()
            expect(answer).to_contain_text("9.500")
            expect(answer).to_contain_text("[1]")
            expect(page.get_by_text(f"[1] {TITLE}", exact=False).first).to_be_visible()
            expect(page.locator("mark.mw-cited").first).to_be_visible()
            page.wait_for_timeout(500)
            page.screenshot(path=str(SHOTS / "chat.png"))
            body = page.locator("body").inner_text()
            assert QUESTION in body and "9.500" in body and TITLE in body

            # Sources page.
            page.get_by_role("link", name="Bronnen").click()
            expect(page.get_by_role("heading", name="Register")).to_be_visible()
            expect(page.get_by_text("Bron toevoegen").first).to_be_visible()
            expect(page.get_by_role("button", name="Opnieuw indexeren")).to_be_visible()
            expect(page.get_by_label("Titel")).to_be_visible()  # widgets load their code lazily
            expect(page.locator('[data-testid="stDataFrame"] canvas').first).to_be_visible()
            expect(page.get_by_text("157 passages")).to_be_visible()
            page.wait_for_timeout(1500)  # the table is drawn on a canvas
            page.screenshot(path=str(SHOTS / "sources.png"))

            # Evaluations page: run the shipped dev set once.
            page.get_by_role("link", name="Evaluaties").click()
            expect(page.get_by_role("heading", name="Evaluaties")).to_be_visible()
            page.get_by_role("button", name="Evaluatie starten").click()
            expect(page.get_by_role("heading", name="Resultaat")).to_be_visible(timeout=300_000)
            expect(page.get_by_text("Mislukte vragen", exact=False).first).to_be_visible()
            page.wait_for_timeout(1000)
            page.screenshot(path=str(SHOTS / "evaluations.png"))
        finally:
            browser.close()
    for name in ("chat", "sources", "evaluations"):
        assert (SHOTS / f"{name}.png").stat().st_size > 10_000
