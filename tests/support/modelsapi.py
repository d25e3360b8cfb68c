"""The model registry's REST API as tests drive it: one credential (and kernel id) per
client, raw requests where a client library would tidy the path, the audit records of one
model, and what module fixtures are made of (a secure-zone server session, hub tokens)
as plain functions for the test modules' own fixtures."""

from __future__ import annotations

import http.client
import json
import secrets
from collections.abc import Iterator
from urllib.parse import urlsplit

import httpx

from hubprocess import HubProcess
from serverenv import server_env

TRIAL = "trial-042-adverse-events"
OMICS = "omics-expression-atlas"
GENES = "reference-genes"
READS = {TRIAL: "adverse_events.csv", OMICS: "README.txt", GENES: "genes.csv"}
PAYLOAD = b"\x00skops-model-bytes\xff" * 100


class Client:
    """The models API with one credential (and optionally one kernel id)."""

    def __init__(self, hub: HubProcess, token: str, kernel: str | None = None):
        self.hub, self.token, self.kernel = hub, token, kernel

    def __call__(self, method: str, path: str, **kw) -> httpx.Response:
        headers = {"Authorization": f"token {self.token}", **kw.pop("headers", {})}
        if self.kernel:
            headers["X-Assay-Kernel"] = self.kernel
        return httpx.request(method, self.hub.broker_url + "api/v1/" + path, timeout=60,
                             headers=headers, **kw)

    def kernel_of(self, kernel: str) -> Client:
        return Client(self.hub, self.token, kernel)

    def read(self, dataset: str) -> None:
        r = self("GET", f"datasets/{dataset}/files/{READS[dataset]}")
        assert r.status_code == 200, r.text

    def start(self, name: str, files: dict[str, bytes], **fields) -> httpx.Response:
        body = {"flavor": "skops", "files": [{"path": p, "size": len(b)}
                                             for p, b in files.items()], **fields}
        return self("POST", f"models/{name}/versions", json=body)

    def register(self, name: str, files: dict[str, bytes] | None = None, **fields) -> dict:
        """POST, PUT every file, commit: the ready version."""
        files = files or {"model.skops": PAYLOAD}
        r = self.start(name, files, **fields)
        assert r.status_code == 201, r.text
        number = r.json()["version"]
        hashes = {}
        for path, data in files.items():
            put = self("PUT", f"models/{name}/versions/{number}/files/{path}", content=data)
            assert put.status_code == 200, put.text
            hashes[path] = put.json()["sha256"]
        r = self("POST", f"models/{name}/versions/{number}/commit", json={"files": hashes})
        assert r.status_code == 200, r.text
        return r.json()


def raw_post(hub: HubProcess, rel: str, token: str, body: dict) -> tuple[int, dict]:
    """POST with the path sent byte for byte, as a client that quotes each segment."""
    url = urlsplit(hub.broker_url + "api/v1/")
    conn = http.client.HTTPConnection(url.hostname, url.port, timeout=60)
    try:
        data = json.dumps(body).encode()
        conn.request("POST", url.path + rel, body=data, headers={
            "Authorization": f"token {token}", "Content-Type": "application/json"})
        r = conn.getresponse()
        return r.status, json.loads(r.read())
    finally:
        conn.close()


def unique(stem: str) -> str:
    return f"{stem}-{secrets.token_hex(3)}"


def secure_session(hub: HubProcess, user: str = "alice") -> Iterator[Client]:
    """A secure-zone server for ``user`` (the kernel's credential), stopped afterwards:
    the body of a module fixture (``yield from secure_session(demo_hub)``)."""
    r = hub.api("POST", f"users/{user}/server",
                json={"profile": "secure-cpu", "purpose": "churn model review"})
    assert r.status_code in (201, 202), r.text
    hub.wait_ready(user)
    yield Client(hub, server_env(user, hub.hub_port)["ASSAY_SESSION_TOKEN"])
    hub.stop_server(user)


def hub_token(hub: HubProcess, user: str) -> Client:
    """A client with a plain hub API token of ``user`` (no session, no zone)."""
    return Client(hub, hub.user_token(user))


def read_and_register(session: Client, stem: str, datasets: tuple[str, ...], **fields) -> dict:
    """In a fresh kernel of ``session``: read ``datasets``, register a model: its version."""
    kernel = session.kernel_of(f"k-{stem}-" + secrets.token_hex(4))
    for dataset in datasets:
        kernel.read(dataset)
    return kernel.register(unique(stem), **fields)


def audit(hub: HubProcess, model: str) -> list[dict]:
    r = httpx.get(hub.broker_url + f"api/v1/audit?dataset=model:{model}&limit=1000",
                  headers={"Authorization": f"token {hub.token}"}, timeout=30)
    assert r.status_code == 200, r.text
    return r.json()["records"]
