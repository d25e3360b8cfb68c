"""People in Debian's Chromium read data from a notebook: alice, on the secure profile
with a purpose, reads the restricted trial; bob, on cpu-small, is told what he lacks and
whom to ask. The broker's audit log has both decisions."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Page, expect, sync_playwright

from labui import fresh_lab, launch, log_in_and_spawn, new_notebook, new_page

pytestmark = [pytest.mark.browser, pytest.mark.usefixtures("homes_as_found", "stopped_servers")]

TRIAL = "trial-042-adverse-events"
CODE = ('import assay.data; df = assay.data.read_csv("trial-042-adverse-events", '
        '"adverse_events.csv"); print(len(df))')
PURPOSE = "trial 042 safety review (browser)"


def snapshot(home: Path) -> dict[Path, bytes | None]:
    """The home's top-level entries and its JupyterLab workspaces (with their contents)."""
    found: dict[Path, bytes | None] = {p: None for p in home.glob("*")} if home.exists() else {}
    for workspace in (home / ".jupyter" / "lab" / "workspaces").glob("*"):
        found[workspace] = workspace.read_bytes()
    return found


@pytest.fixture
def homes_as_found(demo_hub) -> Iterator[None]:
    """Put alice's and bob's homes back as they were: the notebooks made here and the
    workspace (which would reopen them instead of the Launcher) are other tests' business."""
    homes = [demo_hub.workdir / "var" / "home" / user for user in ("alice", "bob")]
    before = {home: snapshot(home) for home in homes}
    yield
    for home, found in before.items():
        for path in set(snapshot(home)) - set(found):
            if path.is_dir():
                shutil.rmtree(path)
            elif path.exists():
                path.unlink()
        for path, content in found.items():
            if content is not None:
                path.write_bytes(content)


@pytest.fixture
def browser(tmp_path):
    with sync_playwright() as p:
        browser = launch(p)
        yield browser
        for number, context in enumerate(browser.contexts):
            for page in context.pages:
                page.screenshot(path=str(tmp_path / f"last-{number}.png"))
        browser.close()


def spawned(browser, hub, user: str, profile: str | None = None, purpose: str = "") -> Page:
    """A page of ``user`` past the spawn form (not waiting for JupyterLab)."""
    page = new_page(browser)
    log_in_and_spawn(page, hub, user, profile, purpose)
    return page


def run_in_new_notebook(page: Page, code: str) -> None:
    fresh_lab(page)  # an earlier test's workspace may hide the Launcher
    new_notebook(page)
    expect(page.locator(".jp-StatusBar-TextItem", has_text="Idle").first).to_be_visible()
    page.locator(".jp-NotebookPanel .jp-Cell .cm-content").first.click()
    page.keyboard.insert_text(code)
    page.keyboard.press("Shift+Enter")


def audit(hub, **query: str) -> list[dict]:
    r = httpx.get(hub.broker_url + "api/v1/audit", params={**query, "limit": "1000"},
                  headers={"Authorization": f"token {hub.token}"}, timeout=30)
    assert r.status_code == 200, r.text
    return r.json()["records"]


def test_alice_reads_restricted_data_bob_is_told_whom_to_ask(demo_hub, browser):
    alice = spawned(browser, demo_hub, "alice", "secure-cpu", PURPOSE)
    bob = spawned(browser, demo_hub, "bob")  # the default profile, cpu-small

    run_in_new_notebook(alice, CODE)
    expect(alice.locator(".jp-OutputArea-output", has_text="2000")).to_be_visible()

    run_in_new_notebook(bob, CODE)
    error = bob.locator(".jp-OutputArea-output", has_text="DataAccessDenied")
    expect(error).to_be_visible()  # the message itself, not a page of HTTP-client frames
    expect(error).to_contain_text("bob may not read 'trial-042-adverse-events' (restricted)")
    expect(error).to_contain_text("membership in group 'oncology'")
    expect(error).to_contain_text("Ask the oncology data steward (alice) for access.")

    allowed = [r for r in audit(demo_hub, user="alice", dataset=TRIAL, decision="allow")
               if r["action"] == "read" and r["purpose"] == PURPOSE]
    assert allowed and allowed[-1]["zone"] == "secure" and allowed[-1]["kernel_id"]
    assert allowed[-1]["profile"] == "secure-cpu"
    denied = [r for r in audit(demo_hub, user="bob", dataset=TRIAL, decision="deny")
              if r["action"] == "read"]
    assert denied and denied[-1]["profile"] == "cpu-small" and denied[-1]["reason"] == "group"
