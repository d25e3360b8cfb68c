"""The model registry's REST API through a real hub (issue 5): register → pending →
upload → commit → ready with the service's hashes; lineage per kernel from the audit
log; classes inherited and never lowered; downloads decided like data reads and audited;
tampered artifacts; bad names, oversize bodies, other users' tokens. Aliases, approvals,
listing, the page and job runs: ``test_models_api_aliases.py``."""

from __future__ import annotations

import hashlib
import secrets

import pytest

from hubprocess import HubProcess
from modelsapi import (
    GENES,
    OMICS,
    PAYLOAD,
    TRIAL,
    Client,
    audit,
    hub_token,
    raw_post,
    unique,
)


@pytest.fixture(scope="module")
def alice_hub_token(demo_hub: HubProcess) -> Client:
    return hub_token(demo_hub, "alice")


def test_register_pending_upload_commit_ready_with_the_services_hashes(alice):
    kernel = alice.kernel_of("k-flow-" + secrets.token_hex(4))
    kernel.read(OMICS)
    name = unique("flow")
    files = {"model.skops": PAYLOAD, "meta/columns.json": b'["a", "b"]'}
    r = kernel.start(name, files, description="first", metrics={"auc": 0.8},
                     params={"C": 1.0}, environment={"python": "3.11.7",
                                                     "packages_digest": "sha256:ab"},
                     notebook={"path": "work/churn.ipynb", "kernel_session": "s-1"},
                     git_commit="0123abc", signature={"inputs": [{"name": "x"}]})
    assert r.status_code == 201, r.text
    created = r.json()
    assert (created["version"], created["status"]) == (1, "pending")
    assert created["upload"] == f"models/{name}/versions/1/files/"
    assert created["lineage"] == {"datasets": [{"name": OMICS, "classification": "internal"}],
                                  "run": None}
    assert created["classification"] == "internal"
    for path, data in files.items():
        put = kernel("PUT", f"models/{name}/versions/1/files/{path}", content=data)
        assert put.json() == {"path": path, "size": len(data),
                              "sha256": hashlib.sha256(data).hexdigest()}
    assert kernel("GET", f"models/{name}/versions/1").json()["status"] == "pending"
    hashes = {p: hashlib.sha256(d).hexdigest() for p, d in files.items()}
    done = kernel("POST", f"models/{name}/versions/1/commit", json={"files": hashes}).json()
    assert done["status"] == "ready" and done["registrant"] == "alice"
    assert {f["path"]: f["sha256"] for f in done["files"]} == hashes
    assert done["notebook"] == {"path": "work/churn.ipynb", "kernel_session": "s-1"}
    assert done["git_commit"] == "0123abc" and done["metrics"] == {"auc": 0.8}
    assert done["url"].endswith(f"services/assay/models/{name}#v1")
    again = kernel.register(name)
    assert again["version"] == 2
    latest = kernel("GET", f"models/{name}/versions/latest").json()
    assert latest["version"] == 2
    actions = [r["action"] for r in audit(alice.hub, name) if r["decision"] == "allow"]
    assert actions[:4] == ["model.register", "model.upload", "model.upload", "model.commit"]

def test_lineage_is_what_this_kernel_read_not_another_kernel_of_the_session(alice,
                                                                          trial_model):
    assert trial_model["classification"] == "restricted"
    assert trial_model["lineage"]["datasets"] == [
        {"name": OMICS, "classification": "internal"},
        {"name": TRIAL, "classification": "restricted"}]
    fresh = alice.kernel_of("k-fresh-" + secrets.token_hex(4))
    assert fresh.register(unique("clean"))["lineage"]["datasets"] == []
    genes = alice.kernel_of("k-genes-" + secrets.token_hex(4))
    genes.read(GENES)
    public = genes.register(unique("genes"))
    assert public["classification"] == "public"
    raised = genes.register(unique("genes"), classification="confidential")
    assert raised["classification"] == "confidential"

def test_classification_cannot_be_lowered(alice):
    kernel = alice.kernel_of("k-lower-" + secrets.token_hex(4))
    kernel.read(TRIAL)
    r = kernel.start(unique("lower"), {"m": b"x"}, classification="public")
    assert r.status_code == 400
    body = r.json()
    assert body["field"] == "classification"
    assert body["message"] == (f"classification 'public' is lower than 'restricted' "
                               f"inherited from dataset '{TRIAL}'; a version's class cannot "
                               "be lowered.")

def test_hash_mismatch_on_commit_is_409_and_the_version_stays_pending(alice):
    name = unique("mismatch")
    assert alice.start(name, {"model.skops": PAYLOAD}).status_code == 201
    alice("PUT", f"models/{name}/versions/1/files/model.skops", content=PAYLOAD)
    wrong = hashlib.sha256(b"something else").hexdigest()
    r = alice("POST", f"models/{name}/versions/1/commit",
              json={"files": {"model.skops": wrong}})
    assert r.status_code == 409
    body = r.json()
    assert body["path"] == "model.skops" and body["declared"] == wrong
    assert body["computed"] == hashlib.sha256(PAYLOAD).hexdigest()
    assert wrong in body["message"] and body["computed"] in body["message"]
    assert alice("GET", f"models/{name}/versions/1").json()["status"] == "pending"
    refused = [r for r in audit(alice.hub, name) if r["action"] == "model.commit"]
    assert refused[-1]["decision"] == "deny"

def test_download_is_decided_like_a_data_read_and_audited(alice, alice_hub_token, bob,
                                                         trial_model):
    name = trial_model["name"]
    path = f"models/{name}/versions/1/files/model.skops"
    got = alice("GET", path)
    assert got.status_code == 200 and got.content == PAYLOAD
    assert got.headers["x-assay-sha256"] == hashlib.sha256(PAYLOAD).hexdigest()
    denied = bob("GET", path)
    assert denied.status_code == 403 and PAYLOAD not in denied.content
    body = denied.json()
    assert body["error"] == "access_denied" and body["dataset"] == TRIAL
    assert "membership in group 'oncology'" in body["missing"]
    assert "the oncology data steward (alice)" in body["ask"]
    no_zone = alice_hub_token("GET", path)
    assert no_zone.status_code == 403
    assert no_zone.json()["missing"] == [
        "zone 'secure' (start a server on profile secure-cpu)"]
    downloads = [(r["user"], r["decision"]) for r in audit(alice.hub, name)
                 if r["action"] == "model.download"]
    assert downloads == [("alice", "allow"), ("bob", "deny"), ("alice", "deny")]

def test_a_tampered_artifact_is_served_but_its_hash_no_longer_matches(alice, demo_hub):
    kernel = alice.kernel_of("k-tamper-" + secrets.token_hex(4))
    version = kernel.register(unique("tamper"))
    stored = (demo_hub.workdir / "var" / "objects" / "models" / version["name"] / "1"
              / "model.skops")
    assert stored.read_bytes() == PAYLOAD
    stored.write_bytes(PAYLOAD.replace(b"skops", b"evil!"))
    got = alice("GET", f"models/{version['name']}/versions/1/files/model.skops")
    assert got.status_code == 200
    recorded = version["files"][0]["sha256"]
    assert got.headers["x-assay-sha256"] == recorded
    assert hashlib.sha256(got.content).hexdigest() != recorded

@pytest.mark.parametrize(("raw", "shown"), [
    ("", "''"),
    ("a" * 65, "'" + "a" * 65),
    ("churn%D0%B0", "'churn\u0430'"),  # Cyrillic 'а'
    ("%2E%2E%2Fx", "'../x'"),
    ("a%2Fb", "'a/b'"),
    ("%EF%BD%83hurn", "'\uff43hurn'"),  # fullwidth 'c' (NFKC: 'churn')
])
def test_bad_names_are_400_naming_the_field(demo_hub, alice, raw, shown):
    status, answer = raw_post(demo_hub, f"models/{raw}/versions", alice.token,
                              {"flavor": "skops", "files": [{"path": "m", "size": 1}]})
    assert status == 400, answer
    assert answer["field"] == "name" and answer["value"].startswith(shown[:20])
    assert "1-64 lowercase ASCII letters" in answer["message"]

def test_oversize_bodies_are_413(alice):
    name = unique("big")
    huge = alice("POST", f"models/{name}/versions",
                 content=b'{"description": "' + b"x" * (300 << 10) + b'"}')
    assert huge.status_code == 413
    declared = alice.start(name, {"model.skops": b"x"})
    assert declared.status_code == 201
    over = alice("PUT", f"models/{name}/versions/1/files/model.skops", content=b"xx")
    assert over.status_code == 413 and "declared" in over.json()["message"]
    streamed = alice("PUT", f"models/{name}/versions/1/files/model.skops",
                     content=iter([b"x", b"y" * 5000]))  # chunked: no Content-Length
    assert streamed.status_code == 413
    too_big = alice("POST", f"models/{unique('big')}/versions",
                    json={"flavor": "skops", "files": [{"path": "m", "size": 3 << 30}]})
    assert too_big.status_code == 413 and too_big.json()["field"] == "files"

def test_other_users_cannot_upload_or_commit_alices_pending_version(alice, bob):
    name = unique("mine")
    assert alice.start(name, {"model.skops": PAYLOAD}).status_code == 201
    r = bob("PUT", f"models/{name}/versions/1/files/model.skops", content=b"evil")
    assert r.status_code == 403 and "registered by alice" in r.json()["message"]
    r = bob("POST", f"models/{name}/versions/1/commit",
            json={"files": {"model.skops": "0" * 64}})
    assert r.status_code == 403
    refused = [(r["user"], r["action"], r["decision"]) for r in audit(alice.hub, name)]
    assert ("bob", "model.upload", "deny") in refused
