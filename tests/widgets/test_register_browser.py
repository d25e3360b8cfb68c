"""alice registers a model from JupyterLab in Debian's Chromium: her notebook reads the
restricted trial through ``assay.data``, trains a small scikit-learn model and shows
``RegisterModel``; one click on Register gives version 1 with the trial as its lineage
and the restricted class, and the model page the widget links to lists that version."""

from __future__ import annotations

import re
import uuid

import pytest
from playwright.sync_api import expect, sync_playwright

import assay.models
from labui import fresh_lab, launch, log_in_and_spawn, new_notebook, new_page
from serverenv import server_env

pytestmark = [pytest.mark.browser, pytest.mark.usefixtures("stopped_servers")]

TRIAL = "trial-042-adverse-events"
PURPOSE = "trial 042 safety model (browser)"
CODE = """import assay.data
from sklearn.linear_model import LogisticRegression
from assay.widgets import RegisterModel
df = assay.data.read_csv("trial-042-adverse-events", "adverse_events.csv")
clf = LogisticRegression().fit(df[["grade", "onset_day"]], df["serious"])
RegisterModel(clf, name={name!r})"""


def test_alice_registers_her_model_with_one_click(demo_hub, tmp_path, monkeypatch):
    name = f"serious-events-{uuid.uuid4().hex[:6]}"
    with sync_playwright() as p:
        browser = launch(p)
        page = new_page(browser)
        try:
            log_in_and_spawn(page, demo_hub, "alice", "secure-cpu", PURPOSE)

            fresh_lab(page)
            new_notebook(page)
            expect(page.locator(".jp-StatusBar-TextItem", has_text="Idle").first
                   ).to_be_visible()
            page.locator(".jp-NotebookPanel .jp-Cell .cm-content").first.click()
            page.keyboard.insert_text(CODE.format(name=name))
            page.keyboard.press("Shift+Enter")

            output = page.locator(".jp-OutputArea-output")
            button = output.locator("button.widget-button", has_text="Register")
            expect(button).to_be_visible()
            output.locator('input[placeholder="auc=0.91, f1=0.8"]').fill("auc=0.77")
            button.click()
            result = output.locator(".widget-html", has_text="registered")
            expect(result).to_contain_text(f"{name} version 1 registered (ready).")
            expect(result).to_contain_text("Classification: restricted")
            expect(result).to_contain_text(f"Lineage: {TRIAL} (restricted)")
            expect(result).to_contain_text("Metrics: auc=0.77")
            link = result.locator("a", has_text="Open the model page")
            expect(link).to_have_attribute(
                "href", re.compile(rf"/services/assay/models/{name}"))
            with page.expect_popup() as popup:  # the service's page, signed in by the hub
                link.click()
            model_page = popup.value
            expect(model_page.locator("body")).to_contain_text(name)
            expect(model_page.locator("body")).to_contain_text(TRIAL)
            expect(model_page.locator("body")).to_contain_text("restricted")
            model_page.screenshot(path=str(tmp_path / "model-page.png"))
        finally:
            page.screenshot(path=str(tmp_path / "last.png"))
            browser.close()

        env = server_env("alice", demo_hub.hub_port)  # alice's server is still up
        monkeypatch.setenv("ASSAY_SESSION_TOKEN", env["ASSAY_SESSION_TOKEN"])
        monkeypatch.setenv("ASSAY_BROKER_URL", env["ASSAY_BROKER_URL"])
        version = assay.models.get(name, 1)
        assert version.registrant == "alice" and version.datasets == [TRIAL]
        assert version.classification == "restricted" and version.metrics == {"auc": 0.77}
        assert re.search(r"Untitled\d*\.ipynb$", version.notebook["path"]), version.notebook
