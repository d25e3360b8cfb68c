"""JupyterLab in the browser: start from a fresh workspace with the Launcher showing."""

from __future__ import annotations

import re

from playwright.sync_api import Page

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
