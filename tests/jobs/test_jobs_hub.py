"""Jobs end to end through a real hub: REST submit → the Assay service's scheduler →
papermill in a subprocess, as the owner, with the owner's current entitlements."""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Iterator

import httpx
import pytest

from hubjobs import api, notebook, run_of, runs, start_hub, stop_hub, submit, wait_run, wait_runs
from hubprocess import HubProcess
from login import login

SECRET = "s3cr3t-VALUE-9f8e7d6c"


@pytest.fixture(scope="module")
def hub(tmp_path_factory: pytest.TempPathFactory) -> Iterator[HubProcess]:
    hub = start_hub(tmp_path_factory.mktemp("jobs-hub"))
    yield hub
    stop_hub(hub)


@pytest.fixture(scope="module")
def tokens(hub: HubProcess) -> dict[str, str]:
    return {user: hub.user_token(user) for user in ("alice", "bob")} | {"admin": hub.token}


def created(r: httpx.Response) -> tuple[dict, dict | None]:
    assert r.status_code == 201, r.text
    return r.json()["job"], r.json()["run"]


def cell_text(nb: dict, index: int) -> str:
    """Everything a cell shows: its source and its outputs."""
    cell = nb["cells"][index]
    return "".join(cell["source"]) + json.dumps(cell.get("outputs", []))


def test_on_demand_job_runs_as_the_owner_with_typed_parameters(hub, tokens):
    nb = notebook("n = 1\nalpha = 0.1\nlabel = 'x'\nflags = []",
                  "import assay.kernels.broker as b\nme = b.get_json('whoami')\n"
                  "print('as', me['user'], me['server'], me['profile'])",
                  "print('n+1 =', n + 1, type(alpha).__name__, label, flags)")
    job, run = created(submit(hub, tokens["bob"], "typed", nb, parameters={
        "n": 41, "alpha": 2, "label": "yo", "flags": ["a"]}))
    assert job["owner"] == "bob" and run["status"] == "queued"
    done = wait_run(hub, tokens["bob"], run["id"])
    assert done["status"] == "succeeded", done
    out = api(hub, tokens["bob"], "GET", f"runs/{run['id']}/notebook").json()
    injected = next(c for c in out["cells"] if "injected-parameters" in c["metadata"]["tags"])
    assert "n = 41" in "".join(injected["source"])
    shown = json.dumps(out)
    assert f"as bob job-run:{run['id']} cpu-small" in shown and "n+1 = 42 int yo" in shown
    log = api(hub, tokens["bob"], "GET", f"runs/{run['id']}/log")
    assert log.headers["content-type"].startswith("text/plain")
    assert f"run {run['id']} of job {job['id']} by bob" in log.text
    (history,) = runs(hub, tokens["bob"], job["id"])
    assert history["duration_s"] > 0 and history["cells_done"] == history["cells_total"] == 4
    assert history["parameters"] == {"n": 41, "alpha": 2, "label": "yo", "flags": ["a"]}
    pinned = (json.dumps(nb, indent=1, ensure_ascii=False) + "\n").encode()
    assert history["notebook_sha256"] == hashlib.sha256(pinned).hexdigest()
    assert history["profile"] == "cpu-small" and history["attempt"] == 1
    # owners and admins see it; anyone else is told it does not exist
    for path in (f"jobs/{job['id']}", f"runs/{run['id']}", f"runs/{run['id']}/log"):
        assert api(hub, tokens["alice"], "GET", path).status_code == 404
        assert api(hub, tokens["admin"], "GET", path).status_code == 200
    assert api(hub, tokens["alice"], "GET", "jobs/999999").json()["error"] == "job_not_found"
    assert [j["name"] for j in api(hub, tokens["alice"], "GET", "jobs").json()["jobs"]] == []


@pytest.mark.parametrize(("parameters", "field", "words"), [
    ({"nn": 5}, "nn", "unknown parameter; the notebook's parameters cell declares: n, label"),
    ({"n": "five"}, "n", "must be int"),
    ({"label": 3}, "label", "must be str"),
])
def test_bad_parameters_are_400_naming_the_field(hub, tokens, parameters, field, words):
    r = submit(hub, tokens["bob"], "bad-params", notebook("n = 1\nlabel = 'x'", "n"),
               parameters=parameters)
    assert r.status_code == 400, r.text
    body = r.json()
    assert body["error"] == "invalid_parameters"
    assert body["problems"][0].startswith(f"{field}: ") and words in body["problems"][0]
    assert all(j["name"] != "bad-params" for j in
               api(hub, tokens["bob"], "GET", "jobs").json()["jobs"])


def test_bad_job_fields_are_400_naming_the_field(hub, tokens):
    r = submit(hub, tokens["bob"], "bad-fields", notebook(None, "1"), profile="secure-cpu",
               colour="blue")
    assert r.status_code == 400 and r.json()["error"] == "invalid_job"
    assert any(p.startswith("colour:") for p in r.json()["problems"]), r.text
    r = submit(hub, tokens["bob"], "bad-fields", notebook(None, "1"), profile="secure-cpu")
    assert r.status_code == 400 and "profile: 'secure-cpu' is not open to bob" in r.text
    r = api(hub, tokens["bob"], "POST", "jobs", json={"name": "x", "profile": "cpu-small",
                                                      "notebook_path": "x.ipynb"})
    assert r.status_code == 400 and "notebook: required" in r.text


def test_failing_notebook_fails_and_its_output_shows_the_error(hub, tokens):
    _, run = created(submit(hub, tokens["bob"], "failing", notebook(
        None, "print('before')", "raise ValueError('boom 42')", "print('never')")))
    done = wait_run(hub, tokens["bob"], run["id"])
    assert done["status"] == "failed" and "ValueError: boom 42" in done["error"]
    out = api(hub, tokens["bob"], "GET", f"runs/{run['id']}/notebook").json()
    errors = [o for c in out["cells"] for o in c.get("outputs", []) if o["output_type"] == "error"]
    assert errors and errors[0]["ename"] == "ValueError" and errors[0]["evalue"] == "boom 42"
    html = api(hub, tokens["bob"], "GET", f"runs/{run['id']}/html")
    assert html.status_code == 200 and "boom 42" in html.text
    assert html.headers["content-security-policy"].startswith("sandbox;")


def test_timeout_is_timed_out_and_retried_per_policy(hub, tokens):
    job, _ = created(submit(hub, tokens["bob"], "sleepy", notebook(
        None, "import time\ntime.sleep(120)"), timeout_s=3, retries=1, retry_backoff_s=0))
    history = wait_runs(hub, tokens["bob"], job["id"], 2, timeout=90)
    assert [(r["attempt"], r["status"]) for r in reversed(history)] == [
        (1, "timed_out"), (2, "timed_out")]
    assert "time limit of 3 s" in history[0]["error"]


def test_a_retry_can_succeed(hub, tokens, tmp_path):
    marker = tmp_path / "first-attempt-done"
    job, _ = created(submit(hub, tokens["bob"], "flaky", notebook(
        "marker = ''", "from pathlib import Path\np = Path(marker)\n"
        "if not p.exists():\n    p.touch()\n    raise RuntimeError('first attempt fails')"),
        parameters={"marker": str(marker)}, retries=2, retry_backoff_s=0))
    history = wait_runs(hub, tokens["bob"], job["id"], 2, timeout=90)
    assert [(r["attempt"], r["status"]) for r in reversed(history)] == [
        (1, "failed"), (2, "succeeded")]


def test_cancel_a_running_run(hub, tokens):
    _, run = created(submit(hub, tokens["bob"], "cancel-me", notebook(
        None, "import time\ntime.sleep(120)")))
    wait_run(hub, tokens["bob"], run["id"], ("running",))
    assert api(hub, tokens["alice"], "POST", f"runs/{run['id']}/cancel").status_code == 404
    r = api(hub, tokens["bob"], "POST", f"runs/{run['id']}/cancel")
    assert r.status_code == 200 and r.json()["run"]["status"] == "cancelled"
    again = api(hub, tokens["bob"], "POST", f"runs/{run['id']}/cancel")
    assert again.status_code == 409 and again.json()["error"] == "run_not_cancellable"


def test_secret_is_referenced_and_redacted_everywhere(hub, tokens):
    r = api(hub, tokens["bob"], "POST", "secrets", json={"name": "warehouse", "value": SECRET})
    assert r.status_code == 201
    assert api(hub, tokens["bob"], "GET", "secrets").json() == {"secrets": ["warehouse"]}
    assert api(hub, tokens["alice"], "GET", "secrets").json() == {"secrets": []}
    _, run = created(submit(hub, tokens["bob"], "uses-secret", notebook(
        "token = ''", "print('token is', token)\nprint(repr(token))",
        f"import sys\nprint(token, file=sys.stderr)\nassert len(token) == {len(SECRET)}",
        "raise RuntimeError('bad ' + token)"), parameters={"token": "secret://warehouse"}))
    done = wait_run(hub, tokens["bob"], run["id"])
    assert done["status"] == "failed" and done["parameters"] == {"token": "secret://warehouse"}
    assert "bad [secret]" in done["error"]
    out = api(hub, tokens["bob"], "GET", f"runs/{run['id']}/notebook").text
    assert "token is [secret]" in out and "ASSAY_SECRET_WAREHOUSE" in out
    assert api(hub, tokens["bob"], "GET", f"runs/{run['id']}/html").status_code == 200
    assert "[secret]" in api(hub, tokens["bob"], "GET", f"runs/{run['id']}/log").text
    var = hub.workdir / "var"
    stored = [p for p in (var / "objects").rglob("*") if p.is_file()]
    assert any(p.name == "output.html" for p in stored)
    artifacts = stored + list(var.glob("assay.sqlite*")) + [hub.log_path] + [
        p for p in (var / "jobs" / "runs" / f"run-{run['id']}").iterdir()]
    leaks = [str(p) for p in artifacts if SECRET.encode() in p.read_bytes()]
    assert leaks == []
    assert api(hub, tokens["bob"], "DELETE", "secrets/warehouse").status_code == 204
    assert api(hub, tokens["bob"], "DELETE", "secrets/warehouse").status_code == 404


def test_revoked_entitlement_fails_the_next_run_saying_what_is_missing(hub, tokens):
    job, run = created(submit(hub, tokens["alice"], "atlas", notebook(
        None, "import assay.data\n"
              "print(assay.data.open('omics-expression-atlas', 'README.txt').read())")))
    first = wait_run(hub, tokens["alice"], run["id"])
    assert first["status"] == "succeeded", first
    assert "Synthetic expression matrix" in api(
        hub, tokens["alice"], "GET", f"runs/{run['id']}/notebook").text
    removed = ("oncology", "gpu-users")
    for group in removed:
        assert hub.api("DELETE", f"groups/{group}/users",
                       json={"users": ["alice"]}).status_code == 200
    try:
        time.sleep(2.5)  # the service caches user models for 2 s
        r = api(hub, tokens["alice"], "POST", f"jobs/{job['id']}/runs")
        assert r.status_code == 201
        second = wait_run(hub, tokens["alice"], r.json()["run"]["id"])
    finally:
        for group in removed:
            hub.api("POST", f"groups/{group}/users", json={"users": ["alice"]})
    assert second["status"] == "failed"
    assert "DataAccessDenied" in second["error"]
    assert "clearance for internal data" in second["error"]
    out = api(hub, tokens["alice"], "GET", f"runs/{second['id']}/notebook").text
    assert "clearance for internal data" in out
    denials = api(hub, tokens["admin"], "GET",
                  "audit?user=alice&dataset=omics-expression-atlas&decision=deny").json()
    assert any(d["server"] == f"job-run:{second['id']}" for d in denials["records"])


def test_metrics_drift_and_webhook(hub, tokens, hooks):
    job, run = created(submit(hub, tokens["bob"], "model-eval", notebook(
        "auc = 0.9", "import assay.jobs\nassay.jobs.record('auc', auc)\n"
                     "assay.jobs.record('rows', 1000)"),
        parameters={"auc": 0.2}, webhook=hooks.url,
        drift_rules=[{"metric": "auc", "kind": "bounds", "min": 0.5, "max": 1.0}]))
    done = wait_run(hub, tokens["bob"], run["id"])
    assert done["status"] == "succeeded"
    assert done["metrics"] == {"auc": 0.2, "rows": 1000.0}
    assert [d["metric"] for d in done["drift"]] == ["auc"]
    assert f"runs/{run['id']}/metrics" in hub.log()  # posted live by the kernel
    (body,) = hooks.wait(1)
    assert body["event"] == "run.drift" and body["run"]["id"] == run["id"]
    assert body["drift"][0]["message"] == "auc = 0.2 is not within [0.5, 1]"
    # only the run's own credential may record its metrics
    r = api(hub, tokens["bob"], "POST", f"runs/{run['id']}/metrics",
            json={"name": "auc", "value": 1})
    assert r.status_code == 403 and r.json()["error"] == "job_forbidden"
    page = httpx.get(hub.broker_url + f"ui/jobs/{job['id']}", timeout=30,
                     headers={"Authorization": f"token {tokens['bob']}"})
    assert page.status_code == 200 and "Metric auc" in page.text
    assert page.text.count('<circle class="drift"') == 1


def test_jobs_page_in_the_browser_renders_charts_escaped(hub, tokens):
    job, run = created(submit(hub, tokens["bob"], "page", notebook(None, "1 + 1"),
                              notebook_path="<script>alert(1)</script>.ipynb"))
    wait_run(hub, tokens["bob"], run["id"])
    browser = login(hub, "bob")
    first = browser.get("services/assay/ui/jobs")
    assert first.status_code == 302 and "oauth2/authorize" in first.headers["location"]
    browser.follow_redirects = True
    listing = browser.get("services/assay/ui/jobs")
    assert listing.status_code == 200, listing.text
    assert "default-src 'none'" in listing.headers["content-security-policy"]
    assert ">page</a>" in listing.text and "<svg" in listing.text
    detail = browser.get(f"services/assay/ui/jobs/{job['id']}")
    assert "<script" not in detail.text and "&lt;script&gt;alert(1)" in detail.text
    assert 'aria-label="Run duration"' in detail.text
    html = browser.get(f"services/assay/ui/runs/{run['id']}/html")
    assert html.status_code == 200 and html.headers["content-security-policy"].startswith(
        "sandbox")
    other = login(hub, "alice")
    other.follow_redirects = True
    assert other.get(f"services/assay/ui/jobs/{job['id']}").status_code == 404
    assert ">page</a>" not in other.get("services/assay/ui/jobs").text


def test_notebooks_up_to_16_mib_and_no_more(hub, tokens):
    big = notebook(None, "1")
    big["cells"].append({"cell_type": "markdown", "metadata": {}, "source": "x" * (3 << 20)})
    job, _ = created(submit(hub, tokens["bob"], "big-notebook", big, schedule="0 3 * * *"))
    assert job["next_slot"].endswith("T03:00:00+00:00")
    huge = notebook(None, "1")
    huge["cells"].append({"cell_type": "markdown", "metadata": {}, "source": "x" * (17 << 20)})
    assert submit(hub, tokens["bob"], "huge", huge).status_code == 413
    assert api(hub, tokens["bob"], "POST", "secrets",
               content=b"{" + b" " * (70 << 10) + b"}").status_code == 413
    assert api(hub, tokens["bob"], "POST", f"jobs/{job['id']}/pause").json()["job"]["paused"]
    assert api(hub, tokens["bob"], "DELETE", f"jobs/{job['id']}").status_code == 204
    assert api(hub, tokens["bob"], "GET", f"jobs/{job['id']}").status_code == 404


def test_profiles_and_openapi(hub, tokens):
    slugs = [p["slug"] for p in api(hub, tokens["bob"], "GET", "profiles").json()["profiles"]]
    assert "cpu-small" in slugs and "secure-cpu" not in slugs
    alice = api(hub, tokens["alice"], "GET", "profiles").json()["profiles"]
    assert {"secure-cpu", "gpu-2x"} <= {p["slug"] for p in alice}
    paths = api(hub, tokens["bob"], "GET", "openapi.json").json()["paths"]
    assert {"/jobs", "/jobs/{id}/runs", "/runs/{id}/html", "/runs/{id}/metrics",
            "/secrets", "/profiles"} <= set(paths)


def test_scheduled_job_fires_once_per_minute_slot(hub, tokens):
    if time.time() % 60 > 50:  # keep the wait for the next slot under ~70 s
        time.sleep(61 - time.time() % 60)
    job, run = created(submit(hub, tokens["bob"], "every-minute", notebook(None, "1"),
                              schedule="* * * * *", catchup="none"))
    assert run is None and job["next_slot"].endswith(":00+00:00")
    first = wait_runs(hub, tokens["bob"], job["id"], 1, timeout=80)
    assert len(first) == 1 and first[0]["slot"] == job["next_slot"]
    assert first[0]["status"] == "succeeded"
    paused = api(hub, tokens["bob"], "POST", f"jobs/{job['id']}/pause").json()["job"]
    assert paused["paused"] and paused["next_slot"] is None
    time.sleep(2)
    assert [r["slot"] for r in runs(hub, tokens["bob"], job["id"])] == [first[0]["slot"]]
    assert run_of(hub, tokens["bob"], first[0]["id"])["attempt"] == 1


def test_job_credentials_die_with_the_run(hub, tokens):
    _, run = created(submit(hub, tokens["bob"], "leaky", notebook(
        None, "import os\nprint('TOKEN=' + os.environ['ASSAY_SESSION_TOKEN'])")))
    wait_run(hub, tokens["bob"], run["id"])
    text = api(hub, tokens["bob"], "GET", f"runs/{run['id']}/notebook").text
    token = text.split("TOKEN=")[1][:51]
    r = httpx.get(hub.broker_url + "api/v1/whoami", headers={"Authorization": f"token {token}"})
    assert r.status_code == 401 and r.json()["error"] == "unauthorized"

