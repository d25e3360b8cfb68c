"""Attacks on who the broker thinks is calling, through the real hub (issue 3, item 9):
forged identity headers and fields, someone else's or a revoked or expired token, a
self-declared zone, hub-only and admin endpoints, tampered and expired signed URLs and
credentials that outlive their server. None may leak a byte; every refusal is audited."""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Iterator

import httpx
import pytest
import yaml

from assay.broker.audit import AuditLog
from assay.db import make_engine
from hubprocess import HubProcess
from serverenv import server_env

TRIAL = "datasets/trial-042-adverse-events/files/adverse_events.csv"
GENES = "datasets/reference-genes/files/genes.csv"
SECRET = (b"subject_id,arm", b"T042-")
FORGED = [{"X-Forwarded-User": "alice"}, {"X-Assay-User": "alice"},
          {"X-Assay-Zone": "secure"}, {"REMOTE_USER": "alice"}, {"Remote-User": "alice"},
          {"X-Remote-User": "alice"}, {"X-Assay-Session": "x"},
          {"X-Forwarded-User": "alice", "X-Assay-Zone": "secure", "X-Real-IP": "10.0.0.1",
           "X-Forwarded-For": "127.0.0.1", "X-Assay-Profile": "secure-cpu"}]
FIELDS = "?user=alice&zone=secure&profile=secure-cpu&session=x&admin=true"
BODY = json.dumps({"user": "alice", "zone": "secure", "admin": True, "server": ""})


def call(hub: HubProcess, method: str, path: str, token: str | None = None,
         headers: dict[str, str] | None = None, **kw) -> httpx.Response:
    auth = {"Authorization": f"token {token}"} if token else {}
    return httpx.request(method, hub.broker_url + "api/v1/" + path, timeout=60,
                         headers={**auth, **(headers or {})}, **kw)


def refused(r: httpx.Response, status: int) -> None:
    assert r.status_code == status, r.text
    assert not any(marker in r.content for marker in SECRET), "secure-zone bytes leaked"
    assert r.headers["content-type"].startswith("application/json")
    assert r.headers["x-content-type-options"] == "nosniff"


@pytest.fixture(scope="module")
def audit_log(demo_hub: HubProcess) -> Iterator[AuditLog]:
    engine = make_engine(f"sqlite:///{demo_hub.workdir / 'var' / 'assay.sqlite'}")
    yield AuditLog(engine)
    engine.dispose()


@pytest.fixture
def since(audit_log: AuditLog):
    """``since(**match)``: audit records appended during this test that match."""
    tail = audit_log.tail(1)
    start = tail[-1]["seq"] if tail else 0

    def records(**match: str) -> list[dict]:
        found = audit_log.query(after=start, limit=1000)
        return [r for r in found if all(r[k] == v for k, v in match.items())]

    return records


def admin_audit(hub: HubProcess, **query: str) -> list[dict]:
    """The same records through the admin REST endpoint."""
    r = call(hub, "GET", "audit?" + "&".join(f"{k}={v}" for k, v in query.items()), hub.token)
    assert r.status_code == 200, r.text
    return r.json()["records"]


@pytest.fixture
def alice_secure(stopped_servers: HubProcess) -> str:
    """alice's session credential on a running secure-zone server."""
    r = stopped_servers.api("POST", "users/alice/server",
                            json={"profile": "secure-cpu", "purpose": "attack tests"})
    assert r.status_code in (201, 202), r.text
    stopped_servers.wait_ready("alice")
    return server_env("alice", stopped_servers.hub_port)["ASSAY_SESSION_TOKEN"]


# -- forged identity -------------------------------------------------------------------

@pytest.mark.parametrize("headers", FORGED, ids=lambda h: ",".join(h))
def test_forged_identity_headers_leave_bob_bob(demo_hub, since, headers):
    bob = demo_hub.user_token("bob")
    me = call(demo_hub, "GET", "whoami" + FIELDS, bob, headers).json()
    assert (me["user"], me["zone"], me["admin"], me["groups"]) == ("bob", None, False,
                                                                   ["analytics"])
    refused(call(demo_hub, "GET", TRIAL + FIELDS, bob, headers), 403)
    refused(call(demo_hub, "POST", TRIAL + "/signed-url" + FIELDS, bob, headers,
                 content=BODY), 403)
    refused(call(demo_hub, "GET", "audit" + FIELDS, bob, headers), 403)
    denials = since(decision="deny")
    assert [(r["user"], r["action"], r["zone"]) for r in denials] == [
        ("bob", "read", ""), ("bob", "sign", ""), ("bob", "audit", "")]
    assert not since(user="alice")
    assert admin_audit(demo_hub, user="bob", decision="deny",
                       after=str(denials[0]["seq"] - 1))[:3] == denials


def test_bob_cannot_be_alice_without_her_token(demo_hub, since):
    bob, alice = demo_hub.user_token("bob"), demo_hub.user_token("alice")
    two = httpx.Headers([("Authorization", f"token {bob}"), ("Authorization", f"token {alice}")])
    for headers in (two, {"Authorization": "token alice"}, {"Authorization": f"token {bob}x"},
                    {"Authorization": f"Basic {base64.b64encode(b'alice:assay-demo').decode()}"},
                    {"Authorization": "token assay-s-" + "A" * 43},
                    {"Cookie": "jupyterhub-session-id=x; jupyterhub-hub-login=x"}):
        refused(httpx.get(demo_hub.broker_url + "api/v1/" + GENES + f"?token={alice}",
                          headers=headers, timeout=60), 401)
    assert [r["reason"] for r in since(decision="deny")] == ["unauthenticated"] * 6
    assert not since(decision="allow")
    assert call(demo_hub, "GET", "whoami", alice).json()["user"] == "alice"


def test_self_declared_zone_does_not_open_the_secure_dataset(demo_hub, since):
    alice = demo_hub.user_token("alice")  # a plain hub token: no server, no zone
    zone = {"X-Assay-Zone": "secure", "X-Assay-Profile": "secure-cpu"}
    refused(call(demo_hub, "GET", TRIAL + FIELDS, alice, zone), 403)
    refused(call(demo_hub, "GET", TRIAL.rsplit("/", 1)[0] + FIELDS, alice, zone), 403)
    refused(call(demo_hub, "POST", TRIAL + "/signed-url" + FIELDS, alice, zone,
                 content=BODY), 403)
    denials = since(user="alice", decision="deny")
    assert [(r["action"], r["reason"], r["zone"]) for r in denials] == [
        ("read", "zone", ""), ("files", "zone", ""), ("sign", "zone", "")]


# -- tokens that are revoked, expired, or of the wrong kind -----------------------------

def _new_token(hub: HubProcess, user: str, **body) -> tuple[str, str]:
    r = hub.api("POST", f"users/{user}/tokens", json={"note": "attack", **body})
    assert r.status_code == 201, r.text
    return r.json()["token"], r.json()["id"]


def _refused_within(hub: HubProcess, token: str, seconds: float) -> float:
    started = time.monotonic()
    while (r := call(hub, "GET", GENES, token)).status_code == 200:
        assert time.monotonic() - started < seconds, "still served"
        time.sleep(0.2)
    refused(r, 401)
    return time.monotonic() - started


def test_revoked_hub_token_is_refused_within_seconds(demo_hub, since):
    token, token_id = _new_token(demo_hub, "bob")
    assert call(demo_hub, "GET", GENES, token).status_code == 200
    assert demo_hub.api("DELETE", f"users/bob/tokens/{token_id}").status_code == 204
    assert _refused_within(demo_hub, token, 5) <= 5
    assert since(user="-", decision="deny", reason="unauthenticated",
                 dataset="reference-genes", path="genes.csv")


def test_expired_hub_token_is_refused(demo_hub, since):
    token, _ = _new_token(demo_hub, "bob", expires_in=2)
    time.sleep(2.5)
    assert _refused_within(demo_hub, token, 5) <= 5
    assert since(user="-", decision="deny", reason="unauthenticated", action="read")


def test_user_tokens_cannot_reach_hub_only_or_admin_endpoints(demo_hub, since):
    bob = demo_hub.user_token("bob")
    mint = {"user": "bob", "server": "", "profile": "secure-cpu", "zone": "secure",
            "purpose": "escalation"}
    r = call(demo_hub, "POST", "sessions", bob, json=mint)
    refused(r, 401)
    assert "token" not in r.json()
    refused(call(demo_hub, "DELETE", "sessions/" + "a" * 32, bob), 401)
    refused(call(demo_hub, "POST", "sessions", None, json=mint), 401)
    for path in ("audit", "audit/verify", "audit?user=alice"):
        refused(call(demo_hub, "GET", path, bob), 403)
    assert [(r["user"], r["action"], r["reason"]) for r in since(decision="deny")] == [
        ("bob", "mint-session", "not-hub"), ("bob", "revoke-session", "not-hub"),
        ("-", "mint-session", "not-hub"),
        ("bob", "audit", "not-admin"), ("bob", "audit", "not-admin"),
        ("bob", "audit", "not-admin")]


# -- session credentials and signed URLs ------------------------------------------------

def _signed(hub: HubProcess, token: str, path: str = TRIAL) -> str:
    r = call(hub, "POST", path + "/signed-url", token)
    assert r.status_code == 200, r.text
    return r.json()["url"]


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def test_session_credential_cannot_mint_revoke_or_audit(demo_hub, alice_secure, since):
    for method, path in (("POST", "sessions"), ("DELETE", "sessions/" + "0" * 32)):
        refused(call(demo_hub, method, path, alice_secure,
                     json={"user": "alice", "server": "x", "profile": "secure-cpu",
                           "zone": "secure"} if method == "POST" else None), 401)
    refused(call(demo_hub, "GET", "audit", alice_secure), 403)
    denials = since(decision="deny", user="alice")
    assert [(r["action"], r["reason"], r["zone"]) for r in denials] == [
        ("mint-session", "not-hub", "secure"), ("revoke-session", "not-hub", "secure"),
        ("audit", "not-admin", "secure")]
    assert call(demo_hub, "GET", TRIAL, alice_secure).status_code == 200  # still alive


def test_tampered_signed_urls_are_refused(demo_hub, alice_secure, since):
    url = _signed(demo_hub, alice_secure)
    assert httpx.get(url, timeout=60).content.startswith(b"subject_id,")
    base, token = url.rsplit("/", 1)
    payload_b64, sig = token.split(".")
    payload = json.loads(base64.urlsafe_b64decode(payload_b64 + "=" * (-len(payload_b64) % 4)))
    forged = []
    for change in ({"p": "../reference-genes-evil/secret.csv"}, {"u": "bob"},
                   {"e": payload["e"] + 3600}, {"d": "reference-genes", "p": "genes.csv"}):
        body = json.dumps({**payload, **change}, separators=(",", ":"), sort_keys=True)
        forged.append(f"{_b64(body.encode())}.{sig}")
    flipped = sig[:-2] + ("A" if sig[-2] != "A" else "B") + sig[-1]
    forged += [f"{payload_b64}.{flipped}", f"{payload_b64}.", payload_b64, "..", "x.y",
               f"{payload_b64}.{sig}.{sig}", f"{payload_b64}.{_b64(b'x' * 32)}"]
    for bad in forged:
        r = httpx.get(f"{base}/{bad}", timeout=60)
        assert r.status_code in (401, 404), (bad, r.text)
        refused(r, r.status_code)
        assert bad not in r.text or len(bad) < 3
    denials = since(decision="deny", action="read-signed")
    assert len(denials) >= len(forged) - 1  # '..' may be refused by routing (404)
    assert {r["reason"] for r in denials} == {"unauthorized"}


def test_expired_signed_url_is_refused(demo_hub, alice_secure, since):
    original = demo_hub.config_path.read_text()
    config = yaml.safe_load(original)
    config["data"]["signed_url_ttl"] = 1
    demo_hub.config_path.write_text(yaml.safe_dump(config, sort_keys=False))
    try:
        url = _signed(demo_hub, alice_secure)
        assert '"expires_in": 1' in call(demo_hub, "POST", TRIAL + "/signed-url",
                                         alice_secure).text
        time.sleep(2.1)
        refused(httpx.get(url, timeout=60), 401)
    finally:
        demo_hub.config_path.write_text(original)
    assert since(decision="deny", action="read-signed", reason="unauthorized")
    assert not since(decision="allow", action="read-signed")


def test_credential_and_signed_url_die_with_the_server(demo_hub, alice_secure, since):
    url = _signed(demo_hub, alice_secure)
    genes_url = _signed(demo_hub, alice_secure, GENES)
    demo_hub.stop_server("alice")
    refused(call(demo_hub, "GET", TRIAL, alice_secure), 401)
    refused(call(demo_hub, "POST", TRIAL + "/signed-url", alice_secure), 401)
    refused(httpx.get(url, timeout=60), 401)
    refused(httpx.get(genes_url, timeout=60), 401)
    reads = since(action="read-signed")
    assert [(r["user"], r["decision"], r["dataset"]) for r in reads] == [
        ("alice", "deny", "trial-042-adverse-events"), ("alice", "deny", "reference-genes")]
    assert [(r["action"], r["reason"]) for r in since(user="-", decision="deny")] == [
        ("read", "unauthenticated"), ("sign", "unauthenticated")]
