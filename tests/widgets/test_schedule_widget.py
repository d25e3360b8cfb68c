"""``assay.widgets.ScheduleNotebook`` against a real hub's Assay service.

In-process: the widget is built as a kernel would build it (``$ASSAY_BROKER_URL``,
``$ASSAY_SESSION_TOKEN``, ``$JPY_SESSION_NAME`` from the environment), its button is
clicked with ``Button.click()`` and the job is checked through the REST API. In the
browser: alice runs the widget in JupyterLab and clicks the button in Debian's Chromium.
"""

from __future__ import annotations

import re
import subprocess
import sys
import time

import httpx
import pytest
from ipywidgets import Checkbox, FloatText, IntText, Text
from playwright.sync_api import expect, sync_playwright

from hubprocess import HubProcess
from jobrun import write_notebook
from labui import fresh_lab, launch, log_in_and_spawn, new_notebook, new_page

PARAMETERS = "n = 1\nrate = 0.5\nlabel = 'plain'\nverbose = False\nitems = [1, 2]"


def rest(hub: HubProcess, token: str, method: str, path: str) -> httpx.Response:
    return httpx.request(method, hub.broker_url + "api/v1/" + path, timeout=30,
                         headers={"Authorization": f"token {token}"})


def wait_run(hub: HubProcess, token: str, run_id: int, timeout: float = 90) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        run = rest(hub, token, "GET", f"runs/{run_id}").json()
        if run["status"] not in ("queued", "running"):
            return run
        assert time.monotonic() < deadline, f"run {run_id} still {run['status']}"
        time.sleep(0.2)


@pytest.fixture(scope="module")
def tokens(demo_hub: HubProcess) -> dict[str, str]:
    return {user: demo_hub.user_token(user) for user in ("alice", "bob")}


@pytest.fixture
def kernel_env(monkeypatch, demo_hub):
    """``kernel_env(user, notebook)``: the environment a kernel of ``user``'s server has."""

    def setup(token: str, notebook: object) -> None:
        for name in ("ASSAY_PROFILE", "JUPYTERHUB_API_TOKEN", "ASSAY_TOKEN"):
            monkeypatch.delenv(name, raising=False)
        monkeypatch.setenv("ASSAY_BROKER_URL", demo_hub.broker_url)
        monkeypatch.setenv("ASSAY_SESSION_TOKEN", token)
        monkeypatch.setenv("JPY_SESSION_NAME", str(notebook))

    return setup


def test_importing_assay_widgets_does_not_import_ipywidgets():
    code = ("import sys, assay.widgets; assert 'ipywidgets' not in sys.modules; "
            "assert assay.widgets.ScheduleNotebook.__name__ == 'ScheduleNotebook'; "
            "assert 'ipywidgets' in sys.modules")
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)


def test_the_form_submits_this_notebook(demo_hub, tokens, kernel_env, tmp_path):
    from assay.widgets import ScheduleNotebook

    notebook = write_notebook(tmp_path / "Widget Report.ipynb",
                              ["print('n', n, type(n).__name__, rate, label, items)"],
                              PARAMETERS)
    kernel_env(tokens["alice"], notebook)
    form = ScheduleNotebook()
    assert form.path_text.value == str(notebook)
    assert form.name_text.value == "widget-report"
    assert [slug for _, slug in form.profile.options] == [
        "cpu-small", "cpu-large", "gpu-2x", "dask", "secure-cpu"]
    assert form.profile.value == "cpu-small"  # the config's default profile
    fields = {f.description: f for f in form.parameters_box.children[1:]}
    assert [(type(f), f.value) for f in fields.values()] == [
        (IntText, 1), (FloatText, 0.5), (Text, "plain"), (Checkbox, False),
        (Text, "[1, 2]")]
    assert form.result.value == ""

    fields["n"].value = 3
    fields["items"].value = "[7, 'x']"
    form.button.click()

    assert form.last_error is None, form.result.value
    job, run = form.last_answer["job"], form.last_answer["run"]
    assert f"<b>Job {job['id']}</b> 'widget-report' submitted to run once now." in \
        form.result.value
    assert f"First run: <b>run {run['id']}</b> (queued)." in form.result.value
    page = re.search(r'href="([^"]+)"', form.result.value).group(1)
    assert page == f"{httpx.URL(demo_hub.broker_url).raw_path.decode()}ui/jobs/{job['id']}"

    listed = rest(demo_hub, tokens["alice"], "GET", "jobs").json()["jobs"]
    [mine] = [j for j in listed if j["id"] == job["id"]]
    assert (mine["name"], mine["profile"], mine["schedule"], mine["notebook_path"]) == (
        "widget-report", "cpu-small", None, str(notebook))
    assert mine["parameters"] == {"n": 3, "items": [7, "x"]}  # only the changed fields
    done = wait_run(demo_hub, tokens["alice"], run["id"])
    assert done["status"] == "succeeded", done
    executed = rest(demo_hub, tokens["alice"], "GET", f"runs/{run['id']}/notebook").text
    assert "n 3 int 0.5 plain [7, 'x']" in executed


def test_refusals_are_shown_with_each_problem(demo_hub, tokens, kernel_env, tmp_path):
    from assay.widgets import ScheduleNotebook

    notebook = write_notebook(tmp_path / "widget-refused.ipynb", ["1"], PARAMETERS)
    kernel_env(tokens["bob"], notebook)
    form = ScheduleNotebook()
    assert [slug for _, slug in form.profile.options] == ["cpu-small", "cpu-large", "dask"]
    form.schedule.value = "every day"
    form.timezone.value = "Mars/Olympus"
    form.parameters_box.children[1].value = 2
    form.button.click()
    assert form.last_answer is None and form.last_error is not None
    html = form.result.value
    assert "The job was not submitted. Invalid job:<ul><li>schedule: must be five cron " \
        "fields" in html
    assert "<li>timezone: unknown time zone &#x27;Mars/Olympus&#x27;" in html
    assert "Traceback" not in html

    form.schedule.value, form.timezone.value = "0 6 * * 1-5", "Europe/Berlin"
    form.button.click()
    assert form.last_error is None, form.result.value
    assert "on schedule <code>0 6 * * 1-5</code> (Europe/Berlin)" in form.result.value
    assert "Next run: " in form.result.value and "First run" not in form.result.value
    job_id = form.last_answer["job"]["id"]
    form.button.click()  # the same name again
    assert form.last_error.status == 409
    assert "bob already has a job named &#x27;widget-refused&#x27;" in form.result.value
    assert rest(demo_hub, tokens["bob"], "DELETE", f"jobs/{job_id}").status_code == 204


def test_without_a_connection_the_form_says_why(monkeypatch, tmp_path):
    from assay.widgets import ScheduleNotebook

    for name in ("ASSAY_BROKER_URL", "ASSAY_SESSION_TOKEN", "JUPYTERHUB_API_TOKEN",
                 "ASSAY_TOKEN", "JPY_SESSION_NAME"):
        monkeypatch.delenv(name, raising=False)
    form = ScheduleNotebook(tmp_path / "missing.ipynb")
    assert "Cannot read the notebook" in form.result.value
    write_notebook(tmp_path / "missing.ipynb", ["1"])
    form.button.click()
    assert "Could not load your profiles. Cannot reach the Assay service:<ul><li>no " \
        "service URL" in form.result.value
    assert not form.button.disabled


@pytest.mark.browser
@pytest.mark.usefixtures("stopped_servers")
def test_alice_schedules_her_notebook_in_jupyterlab(demo_hub, tokens, tmp_path):
    with sync_playwright() as p:
        browser = launch(p)
        page = new_page(browser)
        try:
            log_in_and_spawn(page, demo_hub, "alice", "cpu-small")

            fresh_lab(page)  # an earlier test's workspace may hide the Launcher
            new_notebook(page)
            expect(page.locator(".jp-StatusBar-TextItem", has_text="Idle").first
                   ).to_be_visible()
            page.locator(".jp-NotebookPanel .jp-Cell .cm-content").first.click()
            page.keyboard.insert_text(
                "from assay.widgets import ScheduleNotebook; ScheduleNotebook()")
            page.keyboard.press("Shift+Enter")

            button = page.locator(".jp-OutputArea-output button.widget-button",
                                  has_text="Schedule this notebook")
            expect(button).to_be_visible()
            button.click()
            result = page.locator(".jp-OutputArea-output .widget-html",
                                  has_text="submitted to run once now")
            expect(result).to_be_visible()
            job_id = int(re.search(r"Job (\d+)", result.inner_text()).group(1))
            link = result.locator("a", has_text="Open the job page")
            expect(link).to_have_attribute(
                "href", re.compile(rf"/services/assay/ui/jobs/{job_id}$"))
            with page.expect_popup() as popup:  # the service's page, signed in by the hub
                link.click()
            expect(popup.value.locator("body")).to_contain_text("untitled")
            popup.value.screenshot(path=str(tmp_path / "job-page.png"))
        finally:
            page.screenshot(path=str(tmp_path / "last.png"))
            browser.close()
    job = rest(demo_hub, tokens["alice"], "GET", f"jobs/{job_id}").json()
    assert job["owner"] == "alice" and job["profile"] == "cpu-small"
    assert re.search(r"Untitled\d*\.ipynb$", job["notebook_path"]), job
    run = wait_run(demo_hub, tokens["alice"], job["last_run"]["id"])
    assert run["status"] == "succeeded", run
