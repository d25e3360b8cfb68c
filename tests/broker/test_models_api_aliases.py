"""The model registry through a real hub, continued: aliases with separation of duties and
every change audited, alias and version names, list/search/OpenAPI, the models page (escaped,
behind the hub's login), and a version registered from a scheduled job run."""

from __future__ import annotations

import secrets

import httpx
import pytest

from hubjobs import notebook, submit, wait_run
from login import login
from modelsapi import (
    OMICS,
    TRIAL,
    Client,
    audit,
    hub_token,
    read_and_register,
    unique,
)


@pytest.fixture(scope="module")
def omics_model(alice: Client) -> dict:
    """An internal model: alice's kernel read only the omics atlas."""
    return read_and_register(alice, "expression", (OMICS,), description="Tissue classifier")


def test_aliases_approval_and_separation_of_duties(alice, bob, omics_model, trial_model):
    name = omics_model["name"]
    staging = alice("PUT", f"models/{name}/aliases/staging", json={"version": 1})
    assert staging.status_code == 200 and staging.json()["aliases"] == {"staging": 1}
    request = alice("PUT", f"models/{name}/aliases/production", json={"version": 1})
    assert request.status_code == 202, request.text
    assert request.json()["status"] == "pending"
    assert request.json()["requested_by"] == "alice"
    pending = alice("GET", f"models/{name}").json()["pending_approvals"]
    assert [(a["alias"], a["version"]) for a in pending] == [("production", 1)]
    own = alice("POST", f"models/{name}/aliases/production/approve", json={"version": 1})
    assert own.status_code == 403
    assert own.json()["message"] == (f"separation of duties: alice registered version 1 of "
                                     f"{name}; another person must approve")
    assert alice("GET", f"models/{name}").json()["aliases"] == {"staging": 1}
    ok = bob("POST", f"models/{name}/aliases/production/approve", json={"version": 1})
    assert ok.status_code == 200, ok.text
    assert ok.json()["aliases"] == {"production": 1, "staging": 1}
    assert ok.json()["status"] == "approved"
    assert alice("GET", f"models/{name}/versions/production").json()["version"] == 1
    records = [(r["action"], r["user"], r["decision"]) for r in audit(alice.hub, name)]
    assert [r for r in records if r[0] not in ("model.register", "model.upload",
                                               "model.commit")] == [
        ("model.alias.set", "alice", "allow"), ("model.alias.req", "alice", "allow"),
        ("model.refuse", "alice", "deny"), ("model.approve", "bob", "allow")]
    restricted = trial_model["name"]
    assert alice("PUT", f"models/{restricted}/aliases/production",
                 json={"version": 1}).status_code == 202
    refused = bob("POST", f"models/{restricted}/aliases/production/approve",
                  json={"version": 1})
    assert refused.status_code == 403
    assert "membership in group 'oncology'" in refused.json()["missing"]
    nothing = bob("POST", f"models/{name}/aliases/production/approve", json={"version": 1})
    assert nothing.status_code == 409

def test_bad_alias_and_version_names(alice, omics_model):
    name = omics_model["name"]
    r = alice("PUT", f"models/{name}/aliases/Production", json={"version": 1})
    assert r.status_code == 400 and r.json()["field"] == "alias"
    r = alice("PUT", f"models/{name}/aliases/staging", json={"version": "1"})
    assert r.status_code == 400 and r.json()["field"] == "version"
    assert alice("GET", f"models/{name}/versions/99").status_code == 404

def test_list_search_show_and_openapi(bob, omics_model, trial_model):
    listing = bob("GET", "models?q=" + omics_model["name"]).json()
    assert listing["total"] == 1
    found = listing["models"][0]
    assert (found["name"], found["latest_version"], found["classification"]) == (
        omics_model["name"], 1, "internal")
    assert bob("GET", "models?q=TISSUE+CLASSIFIER").json()["total"] >= 1
    shown = bob("GET", f"models/{trial_model['name']}").json()
    assert shown["versions"][0]["lineage"]["datasets"][1]["name"] == TRIAL
    assert bob("GET", "models?limit=x").status_code == 400
    paths = bob("GET", "openapi.json").json()["paths"]
    assert {"/models", "/models/{name}/versions", "/models/{name}/aliases/{alias}/approve",
            "/models/{name}/versions/{ref}/files/{path}"} <= set(paths)

def test_the_models_page_escapes_everything(demo_hub, alice):
    kernel = alice.kernel_of("k-xss-" + secrets.token_hex(4))
    kernel.read(OMICS)
    xss = "<script>alert(1)</script>"
    version = kernel.register(unique("xss"), description=xss,
                              metrics={'<img src=x onerror="alert(2)">': 1.0},
                              notebook={"path": f"{xss}.ipynb", "kernel_session": "k"})
    page = httpx.get(demo_hub.broker_url + f"models/{version['name']}", timeout=30,
                     headers={"Authorization": f"token {alice.token}"})
    assert page.status_code == 200, page.text
    assert "default-src 'none'" in page.headers["content-security-policy"]
    assert "<script" not in page.text and "<img" not in page.text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page.text
    assert 'id="v1"' in page.text and version["files"][0]["sha256"] in page.text
    assert OMICS in page.text
    listing = httpx.get(demo_hub.broker_url + f"models?q={version['name']}", timeout=30,
                        headers={"Authorization": f"token {alice.token}"})
    assert f">{version['name']}</a>" in listing.text and "<script" not in listing.text
    browser = login(demo_hub, "bob")
    first = browser.get(f"services/assay/models/{version['name']}")
    assert first.status_code == 302 and "oauth2/authorize" in first.headers["location"]
    browser.follow_redirects = True
    signed_in = browser.get(f"services/assay/models/{version['name']}")
    assert signed_in.status_code == 200 and "&lt;script&gt;" in signed_in.text
    assert "<script" not in signed_in.text

JOB_CELL = """
import hashlib, os, httpx
url = os.environ["ASSAY_BROKER_URL"] + "api/v1/"
auth = {{"Authorization": "token " + os.environ["ASSAY_SESSION_TOKEN"]}}
assert httpx.get(url + "datasets/{omics}/files/README.txt", headers=auth).status_code == 200
data = b"a model trained in a scheduled run"
v = httpx.post(url + "models/{name}/versions", headers=auth, json={{
    "flavor": "skops", "files": [{{"path": "m.skops", "size": len(data)}}]}}).json()
base = url + "models/{name}/versions/" + str(v["version"])
assert httpx.put(base + "/files/m.skops", headers=auth, content=data).status_code == 200
r = httpx.post(base + "/commit", headers=auth,
               json={{"files": {{"m.skops": hashlib.sha256(data).hexdigest()}}}})
assert r.status_code == 200, r.text
"""


def test_a_job_run_registers_with_the_runs_reads_and_its_id(demo_hub, bob):
    name = unique("from-a-run")
    nb = notebook(None, JOB_CELL.format(omics=OMICS, name=name))
    r = submit(demo_hub, bob.token, name, nb)
    assert r.status_code == 201, r.text
    run = wait_run(demo_hub, bob.token, r.json()["run"]["id"])
    assert run["status"] == "succeeded", run
    version = bob("GET", f"models/{name}/versions/latest").json()
    assert version["registrant"] == "bob" and version["classification"] == "internal"
    assert version["lineage"] == {"datasets": [{"name": OMICS, "classification": "internal"}],
                                  "run": run["id"]}


def test_removing_a_protected_alias_needs_approval_unless_an_admin_does_it(demo_hub, alice,
                                                                          bob):
    name = read_and_register(alice, "removal", (OMICS,))["name"]
    assert alice("PUT", f"models/{name}/aliases/production", json={"version": 1}
                 ).status_code == 202
    assert bob("POST", f"models/{name}/aliases/production/approve",
               json={"version": 1}).status_code == 200
    removal = bob("DELETE", f"models/{name}/aliases/production")
    assert removal.status_code == 202 and removal.json()["version"] is None  # to remove
    assert removal.json()["aliases"] == {"production": 1}
    own = alice("POST", f"models/{name}/aliases/production/approve", json={"version": None})
    assert own.status_code == 403 and own.json()["error"] == "separation_of_duties"
    done = bob("POST", f"models/{name}/aliases/production/approve", json={"version": None})
    assert done.status_code == 200 and done.json()["aliases"] == {}
    assert alice("PUT", f"models/{name}/aliases/staging", json={"version": 1}
                 ).status_code == 200
    assert alice("DELETE", f"models/{name}/aliases/staging").json()["aliases"] == {}
    admin = Client(demo_hub, hub_token(demo_hub, "admin").token)
    assert alice("PUT", f"models/{name}/aliases/production", json={"version": 1}
                 ).status_code == 202
    assert bob("POST", f"models/{name}/aliases/production/approve",
               json={"version": 1}).status_code == 200
    assert admin("DELETE", f"models/{name}/aliases/production").status_code == 200
    service = Client(demo_hub, demo_hub.token)  # the admin service token: not a person
    r = service("POST", f"models/{name}/versions",
                json={"flavor": "skops", "files": [{"path": "m", "size": 1}]})
    assert r.status_code == 403 and r.json()["field"] == "credential"
    actions = [(r["action"], r["user"]) for r in audit(demo_hub, name)
               if r["action"].startswith("model.alias")]
    assert ("model.alias.del", "admin") in actions and ("model.alias.del", "alice") in actions
