"""A person in Debian's Chromium: log in as alice, pick a profile on the spawn form,
JupyterLab loads, a notebook cell prints ASSAY_PROFILE."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect, sync_playwright

from hubprocess import DEMO_PASSWORD
from labui import fresh_lab, launch, new_notebook, new_page

pytestmark = [pytest.mark.browser, pytest.mark.usefixtures("stopped_servers")]



@pytest.fixture
def page(tmp_path):
    with sync_playwright() as p:
        browser = launch(p)
        page = new_page(browser)
        yield page
        page.screenshot(path=str(tmp_path / "last.png"))
        browser.close()


def test_alice_spawns_a_profile_and_runs_a_cell(demo_hub, page):
    page.goto(demo_hub.url + "hub/login")
    page.fill("#username_input", "alice")
    page.fill("#password_input", DEMO_PASSWORD)
    page.click("#login_submit")

    form = page.locator("#spawn_form")
    expect(form).to_be_visible()
    expect(form.locator("input[name=profile]")).to_have_count(5)
    page.check("#profile-cpu-large")
    form.locator("input[type=submit], button[type=submit]").first.click()

    fresh_lab(page)  # an earlier test's workspace may hide the Launcher
    new_notebook(page)
    expect(page.locator(".jp-StatusBar-TextItem", has_text="Idle").first).to_be_visible()

    page.locator(".jp-NotebookPanel .jp-Cell .cm-content").first.click()
    page.keyboard.insert_text("import os; print('profile=' + os.environ['ASSAY_PROFILE'])")
    page.keyboard.press("Shift+Enter")
    expect(page.locator(".jp-OutputArea-output", has_text="profile=cpu-large")).to_be_visible()
