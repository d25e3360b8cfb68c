"""alice, in Debian's Chromium, on the ``dask`` profile: a notebook starts the profile's
Dask cluster with ``assay.dask.cluster()``, computes on it, reads a dataset on a worker
through the broker, and the dashboard link the cluster shows opens the Dask dashboard
through her server's proxy."""

from __future__ import annotations

import re
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import expect, sync_playwright

from labui import fresh_lab, launch, log_in_and_spawn, new_notebook, new_page

pytestmark = [pytest.mark.browser, pytest.mark.usefixtures("stopped_servers")]

NOT_LOOPBACK = re.compile(r"^(?!https?://127\.0\.0\.1[:/]).*")
CODE = """import assay.dask
from distributed import Client
cluster = assay.dask.cluster()
client = Client(cluster)
client.wait_for_workers(2)
def genes():
    import assay.data
    return len(assay.data.read_csv("reference-genes", "genes.csv"))
print("sum", client.submit(sum, range(10)).result(), "genes", client.submit(genes).result())
cluster"""


@pytest.fixture
def alice_home_as_found(demo_hub) -> Iterator[None]:
    """The notebook made here is removed again (it would reopen in other tests' labs)."""
    home = Path(demo_hub.workdir) / "var" / "home" / "alice"
    before = set(home.glob("*")) if home.exists() else set()
    yield
    for path in set(home.glob("*")) - before:
        shutil.rmtree(path) if path.is_dir() else path.unlink()


def test_alice_computes_on_her_dask_cluster_and_opens_its_dashboard(
    demo_hub, tmp_path, alice_home_as_found,
) -> None:
    with sync_playwright() as p:
        browser = launch(p)
        context = browser.new_context(viewport={"width": 1400, "height": 900})
        context.route(NOT_LOOPBACK, lambda route: route.abort())  # nothing leaves the machine
        page = new_page(context)
        try:
            log_in_and_spawn(page, demo_hub, "alice", "dask")

            fresh_lab(page)
            new_notebook(page)
            expect(page.locator(".jp-StatusBar-TextItem", has_text="Idle").first
                   ).to_be_visible()
            page.locator(".jp-NotebookPanel .jp-Cell .cm-content").first.click()
            page.keyboard.insert_text(CODE)
            page.keyboard.press("Shift+Enter")

            output = page.locator(".jp-OutputArea-output")
            expect(output.filter(has_text="sum 45 genes 500")).to_be_visible(timeout=120_000)
            link = output.locator('a[href$="/status"]').first
            expect(link).to_be_visible()
            href = link.get_attribute("href") or ""
            assert re.fullmatch(rf"{re.escape(demo_hub.base_url)}user/alice/proxy/\d+/status",
                                href), href

            with context.expect_page() as opened:
                link.click()
            dashboard = opened.value
            dashboard.wait_for_load_state()
            expect(dashboard).to_have_url(re.compile(re.escape(href) + "$"))
            expect(dashboard).to_have_title("Dask Diagnostic UI")
            expect(dashboard.locator("canvas").first).to_be_attached(timeout=60_000)
        finally:
            for number, shown in enumerate(context.pages):
                shown.screenshot(path=str(tmp_path / f"last-{number}.png"))
            browser.close()
