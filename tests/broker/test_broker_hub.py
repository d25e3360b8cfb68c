"""The broker through a real hub: session credentials with purpose and zone, revocation,
group removal and reclassification taking effect within 5 s."""

from __future__ import annotations

import time

import httpx
import pytest
import yaml

from hubprocess import HubProcess
from login import login, xsrf
from serverenv import server_env

pytestmark = pytest.mark.usefixtures("stopped_servers")
TRIAL = "datasets/trial-042-adverse-events/files/adverse_events.csv"
GENES = "datasets/reference-genes/files/genes.csv"
PURPOSE = "trial 042 safety review"


def get(hub: HubProcess, token: str, path: str, **headers: str) -> httpx.Response:
    return httpx.get(hub.broker_url + "api/v1/" + path, timeout=30,
                     headers={"Authorization": f"token {token}", **headers})


def audit(hub: HubProcess, **query: str) -> list[dict]:
    r = get(hub, hub.token, "audit?" + "&".join(f"{k}={v}" for k, v in query.items()))
    assert r.status_code == 200, r.text
    return r.json()["records"]


def spawn_secure(hub: HubProcess, purpose: str = PURPOSE) -> dict[str, str]:
    r = hub.api("POST", "users/alice/server", json={"profile": "secure-cpu", "purpose": purpose})
    assert r.status_code in (201, 202), r.text
    hub.wait_ready("alice")
    return server_env("alice", hub.hub_port)


def until(check, seconds: float = 5.0) -> float:
    """Seconds until ``check()`` is true; fails after ``seconds``."""
    started = time.monotonic()
    while not check():
        if time.monotonic() - started > seconds:
            pytest.fail(f"not true within {seconds}s")
        time.sleep(0.1)
    return time.monotonic() - started


def test_secure_profile_requires_a_purpose_rest_and_form(demo_hub):
    r = demo_hub.api("POST", "users/alice/server", json={"profile": "secure-cpu"})
    assert r.status_code == 400
    assert "requires a purpose" in r.json()["message"]
    client = login(demo_hub, "alice")
    assert 'id="assay-purpose"' in client.get("hub/spawn").text
    r = client.post("hub/spawn", data={"profile": "secure-cpu", "_xsrf": xsrf(client)})
    assert r.status_code == 400 and "requires a purpose" in r.text
    assert not demo_hub.api("GET", "users/alice").json()["servers"]


def test_session_credential_carries_zone_and_purpose_onto_every_record(demo_hub):
    env = spawn_secure(demo_hub)
    token = env["ASSAY_SESSION_TOKEN"]
    me = get(demo_hub, token, "whoami").json()
    assert (me["user"], me["zone"], me["profile"], me["purpose"]) == (
        "alice", "secure", "secure-cpu", PURPOSE)
    r = get(demo_hub, token, TRIAL)
    assert r.status_code == 200 and r.text.startswith("subject_id,")
    record = audit(demo_hub, user="alice", dataset="trial-042-adverse-events")[-1]
    assert record["decision"] == "allow" and record["purpose"] == PURPOSE
    assert record["zone"] == "secure" and record["bytes"] == len(r.content)


def test_credential_dies_with_the_server(demo_hub):
    old = spawn_secure(demo_hub)["ASSAY_SESSION_TOKEN"]
    demo_hub.stop_server("alice")
    assert get(demo_hub, old, TRIAL).status_code == 401
    new = spawn_secure(demo_hub)["ASSAY_SESSION_TOKEN"]
    assert new != old
    assert get(demo_hub, old, TRIAL).status_code == 401
    assert get(demo_hub, new, TRIAL).status_code == 200


def test_plain_token_has_no_zone_whatever_the_client_claims(demo_hub):
    token = demo_hub.user_token("alice")
    r = get(demo_hub, token, TRIAL, **{"X-Assay-Zone": "secure"})
    assert r.status_code == 403
    assert r.json()["missing"] == ["zone 'secure' (start a server on profile secure-cpu)"]
    assert "subject_id" not in r.text
    assert get(demo_hub, token, GENES).status_code == 200


def test_group_removal_applies_within_5_seconds(demo_hub):
    token = spawn_secure(demo_hub)["ASSAY_SESSION_TOKEN"]
    assert get(demo_hub, token, TRIAL).status_code == 200
    r = demo_hub.api("DELETE", "groups/oncology/users", json={"users": ["alice"]})
    assert r.status_code == 200, r.text
    try:
        took = until(lambda: get(demo_hub, token, TRIAL).status_code == 403)
        assert took <= 5
        denial = get(demo_hub, token, TRIAL).json()
        assert "membership in group 'oncology'" in denial["missing"]
    finally:
        demo_hub.api("POST", "groups/oncology/users", json={"users": ["alice"]})


def test_reclassification_applies_within_5_seconds(demo_hub):
    token = demo_hub.user_token("bob")
    assert get(demo_hub, token, GENES).status_code == 200
    original = demo_hub.config_path.read_text()
    config = yaml.safe_load(original)
    genes = next(d for d in config["data"]["datasets"] if d["name"] == "reference-genes")
    genes["classification"] = "confidential"
    demo_hub.config_path.write_text(yaml.safe_dump(config, sort_keys=False))
    try:
        took = until(lambda: get(demo_hub, token, GENES).status_code == 403)
        assert took <= 5
        assert get(demo_hub, token, GENES).json()["missing"] == [
            "clearance for confidential data"]
    finally:
        demo_hub.config_path.write_text(original)
    until(lambda: get(demo_hub, token, GENES).status_code == 200)


def test_openapi_document_through_the_proxy(demo_hub):
    r = httpx.get(demo_hub.url + "services/assay/api/v1/openapi.json", timeout=30)
    assert r.status_code == 200
    doc = r.json()
    assert doc["openapi"].startswith("3.")
    assert {"/datasets", "/datasets/{name}/files/{path}", "/audit"} <= set(doc["paths"])
    assert doc["servers"][0]["url"] == "/@/space%20word/services/assay/api/v1"


def test_audit_is_for_admins_only(demo_hub):
    r = get(demo_hub, demo_hub.user_token("bob"), "audit")
    assert r.status_code == 403
    assert get(demo_hub, demo_hub.token, "audit/verify").json()["ok"] is True
