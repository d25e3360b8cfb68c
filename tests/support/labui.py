"""The hub and JupyterLab in Debian's Chromium through Playwright: launching it, logging
in and spawning through the form, a fresh workspace with the Launcher showing."""

from __future__ import annotations

import re

from playwright.sync_api import Browser, BrowserContext, Page, Playwright, expect

from hubprocess import DEMO_PASSWORD, HubProcess

CHROMIUM = "/usr/bin/chromium"  # Debian's; `playwright install` downloads and fails here
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                 "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync"]

LAUNCHER_NOTEBOOK = '.jp-LauncherCard[data-category="Notebook"]'
LAB_URL = re.compile(r"(/user/[^/]+/lab).*$")


def fresh_lab(page: Page) -> None:
    """Reload JupyterLab with ``?reset`` at ``/user/NAME/lab`` (no ``tree/…`` path, which
    would reopen a document) and make sure a Launcher is open."""
    page.wait_for_url(LAB_URL, timeout=120_000)  # past the spawn-pending page
    page.wait_for_selector("#jupyterlab-splash", state="detached", timeout=120_000)
    page.goto(LAB_URL.sub(r"\1?reset", page.url))
    page.wait_for_selector("#jupyterlab-splash", state="detached", timeout=120_000)
    try:
        page.wait_for_selector(LAUNCHER_NOTEBOOK, timeout=15_000)
    except Exception:  # noqa: BLE001 - no Launcher restored: open one
        page.keyboard.press("Control+Shift+L")
        page.wait_for_selector(LAUNCHER_NOTEBOOK, timeout=30_000)


def new_notebook(page: Page) -> None:
    """Open a notebook from the Launcher and wait for its kernel to connect; accept
    JupyterLab's "Select Kernel" dialog when it asks (it does when sessions linger)."""
    page.locator(LAUNCHER_NOTEBOOK).first.click()
    ready = '.jp-NotebookPanel .jp-DebuggerBugButton[aria-disabled="false"]'
    accept = ".jp-Dialog .jp-Dialog-button.jp-mod-accept"
    page.wait_for_selector(f"{ready}, {accept}", timeout=90_000)
    if page.locator(accept).count():
        page.locator(accept).first.click()
    page.wait_for_selector(ready, timeout=90_000)


def launch(p: Playwright) -> Browser:
    """Debian's Chromium, headless, with the flags this machine needs."""
    return p.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)


def new_page(where: Browser | BrowserContext) -> Page:
    """A 1400x900 page (in a new context of ``where`` when it is a browser), 90 s waits."""
    if isinstance(where, Browser):
        where = where.new_context(viewport={"width": 1400, "height": 900})
    page = where.new_page()
    page.set_default_timeout(90_000)
    return page


def log_in_and_spawn(page: Page, hub: HubProcess, user: str, profile: str | None = None,
                     purpose: str = "") -> None:
    """Log in through the hub's form and submit the spawn form (``profile`` checked, the
    purpose filled when given); does not wait for JupyterLab."""
    page.goto(hub.url + "hub/login")
    page.fill("#username_input", user)
    page.fill("#password_input", DEMO_PASSWORD)
    page.click("#login_submit")
    form = page.locator("#spawn_form")
    expect(form).to_be_visible()
    if profile:
        page.check(f"#profile-{profile}")
    if purpose:
        page.fill("#assay-purpose", purpose)
    form.locator("input[type=submit], button[type=submit]").first.click()
