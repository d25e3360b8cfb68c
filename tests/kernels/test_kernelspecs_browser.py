"""The JupyterLab Launcher in Debian's Chromium offers "Python 3 (Assay)"; it offers
"Python 3 (Assay, GPU)" to alice on ``gpu-2x`` and not to bob on ``cpu-small``."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser, Page, expect, sync_playwright

from hubprocess import DEMO_PASSWORD, HubProcess
from labui import fresh_lab

pytestmark = [pytest.mark.browser, pytest.mark.usefixtures("stopped_servers")]

CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                 "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync"]  # as tests/test_browser.py
CARD = '.jp-LauncherCard[data-category="Notebook"][title="{}"]'


@pytest.fixture
def browser(tmp_path) -> Iterator[Browser]:
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path="/usr/bin/chromium", headless=True,
                                    args=CHROMIUM_ARGS)
        yield browser
        for number, context in enumerate(browser.contexts):
            for page in context.pages:
                page.screenshot(path=str(tmp_path / f"last-{number}.png"))
        browser.close()


def launcher_of(browser: Browser, hub: HubProcess, user: str, profile: str) -> Page:
    """Log in, spawn ``profile`` through the form, and show JupyterLab's Launcher."""
    page = browser.new_context(viewport={"width": 1400, "height": 900}).new_page()
    page.set_default_timeout(90_000)
    page.goto(hub.url + "hub/login")
    page.fill("#username_input", user)
    page.fill("#password_input", DEMO_PASSWORD)
    page.click("#login_submit")
    expect(page.locator("#spawn_form")).to_be_visible()
    page.check(f"#profile-{profile}")
    page.locator("#spawn_form [type=submit]").click()
    fresh_lab(page)
    return page


def test_the_launcher_offers_the_assay_kernels_by_profile(browser, demo_hub) -> None:
    bob = launcher_of(browser, demo_hub, "bob", "cpu-small")
    expect(bob.locator(CARD.format("Python 3 (Assay)"))).to_be_visible()
    expect(bob.locator(CARD.format("Python 3 (ipykernel)"))).to_be_visible()
    assert bob.locator(CARD.format("Python 3 (Assay, GPU)")).count() == 0

    alice = launcher_of(browser, demo_hub, "alice", "gpu-2x")
    expect(alice.locator(CARD.format("Python 3 (Assay)"))).to_be_visible()
    expect(alice.locator(CARD.format("Python 3 (Assay, GPU)"))).to_be_visible()
