"""The JupyterLab Launcher in Debian's Chromium offers "Python 3 (Assay)"; it offers
"Python 3 (Assay, GPU)" to alice on ``gpu-2x`` and not to bob on ``cpu-small``."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser, Page, expect, sync_playwright

from hubprocess import HubProcess
from labui import fresh_lab, launch, log_in_and_spawn, new_page

pytestmark = [pytest.mark.browser, pytest.mark.usefixtures("stopped_servers")]

CARD = '.jp-LauncherCard[data-category="Notebook"][title="{}"]'


@pytest.fixture
def browser(tmp_path) -> Iterator[Browser]:
    with sync_playwright() as p:
        browser = launch(p)
        yield browser
        for number, context in enumerate(browser.contexts):
            for page in context.pages:
                page.screenshot(path=str(tmp_path / f"last-{number}.png"))
        browser.close()


def launcher_of(browser: Browser, hub: HubProcess, user: str, profile: str) -> Page:
    """Log in, spawn ``profile`` through the form, and show JupyterLab's Launcher."""
    page = new_page(browser)
    log_in_and_spawn(page, hub, user, profile)
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
