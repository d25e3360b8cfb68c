"""Attacks on the broker's names and paths through the real hub (issue 3, item 9): path
traversal, look-alike names, oversize and deeply nested requests, log injection, XSS and
SSRF-looking names. Each one is sent as an attacker would -- raw HTTP where a client
library would tidy the URL -- and must leak no byte of any dataset and be audited.
Identity, token and signed-URL attacks: ``test_attacks_identity.py``."""

from __future__ import annotations

import http.client
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote, urlsplit

import httpx
import pytest

from assay.broker.audit import AuditLog
from assay.db import make_engine
from hubprocess import HubProcess
from serverenv import broker_process

GENES = "reference-genes"
TRIAL = "trial-042-adverse-events"
EVIL = b"EVIL-SIBLING-SECRET"
FAKE = "[I fake log line]"
XSS = "<script>alert(1)</script>"
# What must never come back: the secure-zone data, the sibling folder, files outside.
MARKERS = (b"subject_id,arm", b"T042-", EVIL, b"root:x:0:0")


class Raw:
    """HTTP/1.1 to the broker with the path sent byte for byte (no normalisation)."""

    def __init__(self, hub: HubProcess):
        self.url = urlsplit(hub.broker_url + "api/v1/")

    def __call__(self, method: str, rel: str, token: str | None = None,
                 headers: dict[str, str] | None = None, body: bytes | None = None,
                 ) -> tuple[int | None, dict[str, str], bytes]:
        conn = http.client.HTTPConnection(self.url.hostname, self.url.port, timeout=60)
        try:
            conn.putrequest(method, self.url.path + rel, skip_accept_encoding=True)
            for key, value in {**({"Authorization": f"token {token}"} if token else {}),
                               **(headers or {})}.items():
                conn.putheader(key, value)
            if body is not None:
                conn.putheader("Content-Length", str(len(body)))
            conn.endheaders(body)
            r = conn.getresponse()
            return r.status, {k.lower(): v for k, v in r.getheaders()}, r.read()
        except (OSError, http.client.HTTPException):
            return None, {}, b""  # the server closed the connection: refused
        finally:
            conn.close()


@pytest.fixture(scope="module")
def raw(demo_hub: HubProcess) -> Raw:
    return Raw(demo_hub)


@pytest.fixture(scope="module")
def audit_log(demo_hub: HubProcess) -> Iterator[AuditLog]:
    engine = make_engine(f"sqlite:///{demo_hub.workdir / 'var' / 'assay.sqlite'}")
    yield AuditLog(engine)
    engine.dispose()


@pytest.fixture(scope="module")
def bob(demo_hub: HubProcess) -> str:
    return demo_hub.user_token("bob")


@pytest.fixture(scope="module")
def evil(demo_hub: HubProcess) -> Iterator[Path]:
    """``var/data/reference-genes-evil/secret.csv``: a sibling whose name extends the
    public dataset's folder name (a string-prefix check would let it through)."""
    folder = demo_hub.workdir / "var" / "data" / f"{GENES}-evil"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "secret.csv").write_bytes(EVIL + b",1\n")
    yield folder
    shutil.rmtree(folder)


class Denials:
    """The audit records appended since ``start``, as a later ``since()`` sees them."""

    def __init__(self, log: AuditLog):
        self.log = log
        tail = log.tail(1)
        self.start = tail[-1]["seq"] if tail else 0

    def since(self, **match: str) -> list[dict]:
        records = self.log.query(after=self.start, limit=1000)
        return [r for r in records if all(r[k] == v for k, v in match.items())]

    def deny(self, **match: str) -> list[dict]:
        found = self.since(decision="deny", **match)
        assert found, f"no deny record {match} in {self.since()}"
        assert not self.since(decision="allow", **match), "an allow record for the attack"
        return found


def assert_refused(status: int | None, headers: dict[str, str], body: bytes,
                   allowed: tuple[int, ...] = (400, 404)) -> None:
    assert status in allowed, (status, body[:300])
    leaked = [m for m in MARKERS if m in body]
    assert not leaked, f"dataset bytes leaked: {leaked}"
    if body:
        assert headers["content-type"].startswith("application/json"), headers
        assert headers["x-content-type-options"] == "nosniff"


# -- path traversal ---------------------------------------------------------------------

TRAVERSALS = [
    "../reference-genes-evil/secret.csv",
    "..%2freference-genes-evil%2fsecret.csv",
    "..%2Freference-genes-evil%2Fsecret.csv",
    "%2e%2e/reference-genes-evil/secret.csv",
    "%2e%2e%2freference-genes-evil%2fsecret.csv",
    "%252e%252e/reference-genes-evil/secret.csv",
    "%252e%252e%252freference-genes-evil%252fsecret.csv",
    "genes.csv/../../reference-genes-evil/secret.csv",
    "./../reference-genes-evil/secret.csv",
    "/etc/passwd",
    "%2fetc%2fpasswd",
    "%2e%2e%2f%2e%2e%2f%2e%2e%2f%2e%2e%2f%2e%2e%2f%2e%2e%2fetc%2fpasswd",
    "..%5creference-genes-evil%5csecret.csv",
    "..\\reference-genes-evil\\secret.csv",
    "genes.csv%00",
    "..%00/reference-genes-evil/secret.csv",
    "%c0%ae%c0%ae/reference-genes-evil/secret.csv",  # overlong UTF-8 '.'
    "%ef%bc%8e%ef%bc%8e/reference-genes-evil/secret.csv",  # fullwidth '..'
    "..;/reference-genes-evil/secret.csv",
]


@pytest.mark.parametrize("action", ["read", "sign"])
@pytest.mark.parametrize("path", TRAVERSALS)
def test_path_traversal_stays_inside_the_dataset(raw, bob, evil, audit_log, path, action):
    marks = Denials(audit_log)
    rel = f"datasets/{GENES}/files/{path}"
    if action == "sign":
        status, headers, body = raw("POST", rel + "/signed-url", bob, body=b"")
    else:
        status, headers, body = raw("GET", rel, bob)
    assert_refused(status, headers, body)
    assert marks.deny(user="bob", action=action, dataset=GENES)


@pytest.mark.parametrize("name", [f"{GENES}%2f..%2f{GENES}-evil", f"..%2f{GENES}-evil",
                                  f"%2e%2e%2f{GENES}-evil", f"{GENES}-evil"])
def test_dataset_name_traversal_is_an_unknown_dataset(raw, bob, evil, audit_log, name):
    marks = Denials(audit_log)
    assert_refused(*raw("GET", f"datasets/{name}/files/secret.csv", bob), allowed=(404,))
    assert marks.deny(user="bob", action="read", reason="unknown-dataset")


def test_the_real_file_still_reads(raw, bob, demo_hub):
    status, _, body = raw("GET", f"datasets/{GENES}/files/genes.csv", bob)
    assert status == 200
    assert body == (demo_hub.workdir / "var/data/reference-genes/genes.csv").read_bytes()


# -- look-alike names -----------------------------------------------------------------

LOOKALIKES = [
    "trial-042-\u0430dverse-events",  # Cyrillic a
    "Trial-042-Adverse-Events",
    "TRIAL-042-ADVERSE-EVENTS",
    "\uff54rial-042-adverse-events",  # fullwidth t
    "trial\uff0d042-adverse-events",  # fullwidth hyphen
    "trial-042-adverse-events ",
    "trial-042-adverse-events\u00a0",
    "trial-042-adverse\u200d-events",  # zero-width joiner
    "trial-042-adverse-events\u200b",
    "\u202etrial-042-adverse-events",
    "trial-042-adverse-events\x00",
    "tri\u0430l-042-adverse-events",
]


GENES_LOOKALIKES = ["Reference-genes", "reference-genes ", "reference\u2010genes",
                    "reference-gene\u0455", "reference-genes\u00a0", "reference-genes%20"]


@pytest.mark.parametrize(("user", "name"), [("alice", n) for n in LOOKALIKES] +
                         [("bob", n) for n in GENES_LOOKALIKES], ids=ascii)
def test_lookalike_names_never_resolve(raw, audit_log, demo_hub, user, name):
    """A 404 that names the look-alike as given: the real dataset would have answered
    403 (alice has no zone on a hub token) or 200 (bob reads the public one)."""
    token = demo_hub.user_token(user)
    for rel in (f"datasets/{quote(name, safe='')}",
                f"datasets/{quote(name, safe='')}/files",
                f"datasets/{quote(name, safe='')}/files/genes.csv"):
        marks = Denials(audit_log)
        assert_refused(*raw("GET", rel, token), allowed=(404,))
        (record,) = marks.deny(user=user, reason="unknown-dataset")
        assert record["dataset"] == name.replace("\x00", "\u2400")
        assert record["dataset"] not in (TRIAL, GENES)


# -- oversize and nested requests ------------------------------------------------------

def broker_service_token(hub: HubProcess) -> str:
    """The broker's own hub token from its process (an attacker who holds it can mint)."""
    found = broker_process(hub.broker_port)
    if found is None:
        raise LookupError("broker process not found")
    return found[1]["JUPYTERHUB_API_TOKEN"]


def still_serving(raw: Raw, bob: str) -> None:
    status, _, body = raw("GET", "whoami", bob)
    assert status == 200 and b'"bob"' in body


@pytest.mark.parametrize("rel", ["sessions", f"datasets/{GENES}/files/genes.csv/signed-url"])
def test_oversize_body_is_413_and_audited(raw, bob, audit_log, rel):
    marks = Denials(audit_log)
    status, headers, body = raw("POST", rel, bob, body=b"{" + b" " * (64 * 1024) + b"}")
    assert_refused(status, headers, body, allowed=(413,))
    assert marks.deny(user="bob", action="oversize")
    still_serving(raw, bob)


def test_huge_headers_and_urls_are_refused_without_a_crash(raw, bob, audit_log):
    assert raw("GET", "whoami", bob, {"X-Pad": "a" * 70_000})[0] in (None, 400, 431)
    assert raw("GET", "datasets/" + "a" * 100_000, bob)[0] in (None, 400, 414)
    assert raw("GET", "whoami", bob, {f"X-H{i}": "a" for i in range(3000)})[0] in (
        None, 200, 400, 431)
    marks = Denials(audit_log)
    assert_refused(*raw("GET", "datasets/" + "a" * 30_000, bob), allowed=(404,))
    assert_refused(*raw("GET", f"datasets/{GENES}/files/" + "a/" * 15_000 + "x", bob))
    assert len(marks.since(decision="deny", user="bob")) == 2
    still_serving(raw, bob)


def test_deeply_nested_json_is_400_and_the_broker_keeps_serving(raw, bob, audit_log, demo_hub):
    deep = b"[" * 10_000 + b"]" * 10_000
    marks = Denials(audit_log)
    assert raw("POST", "sessions", bob, body=deep)[0] == 401  # users never get to parse
    assert marks.deny(user="bob", action="mint-session", reason="not-hub")
    hub_token = broker_service_token(demo_hub)
    for body in (deep, b'{"user": ' + deep + b"}", b'{"a":' * 10_000 + b"1" + b"}" * 10_000):
        status, _, answer = raw("POST", "sessions", hub_token, body=body)
        assert status == 400, answer
        assert b"nested deeper than 32" in answer
    still_serving(raw, bob)


# -- log injection, XSS, SSRF-looking names --------------------------------------------

def test_crlf_cannot_forge_audit_or_log_lines(raw, bob, audit_log, demo_hub):
    marks = Denials(audit_log)
    crlf = quote(f"trial\r\n{FAKE}", safe="")
    assert_refused(*raw("GET", f"datasets/{crlf}", bob), allowed=(404,))
    assert_refused(*raw("GET", f"datasets/{GENES}/files/{crlf}", bob))
    assert_refused(*raw("GET", f"datasets/{GENES}/files/x%0d{quote(FAKE)}", bob))
    assert len(marks.since(decision="deny", user="bob")) == 3
    out = subprocess.run(
        [sys.executable, "-m", "assay.cli", "audit", "tail", "-n", "3",
         "--db", "sqlite:///var/assay.sqlite"],
        cwd=demo_hub.workdir, capture_output=True, text=True, timeout=120, check=True).stdout
    lines = out.splitlines()
    assert len(lines) == 3, out
    assert all("\\r\\n" in line or "\\r" in line for line in lines), out
    assert not any(line.startswith(FAKE) for line in lines)
    log = demo_hub.log_path.read_bytes()
    physical = log.replace(b"\r", b"\n").split(b"\n")
    assert not any(line.lstrip().startswith(FAKE.encode()) for line in physical)


@pytest.mark.parametrize(("rel", "audited"), [
    (f"datasets/{quote(XSS, safe='')}", "GET"),
    (f"datasets/{quote(XSS, safe='')}/files", "GET"),
    (f"datasets/{GENES}/files/{quote(XSS, safe='')}", "GET"),
    (f"datasets/{GENES}/files/{quote(XSS, safe='/')}", "GET"),
    (f"datasets/{GENES}/files/{quote(XSS, safe='')}/signed-url", "POST"),
    (f"datasets/{quote(XSS, safe='')}/{quote(XSS, safe='')}/x", None),  # no such endpoint
])
def test_xss_payloads_only_come_back_as_json(demo_hub, raw, bob, audit_log, rel, audited):
    proxied = httpx.Client(base_url=demo_hub.url + "services/assay/api/v1/", timeout=60)
    for method in ("GET", "POST", "PUT"):
        marks = Denials(audit_log)
        status, headers, body = raw(method, rel, bob, body=b"" if method != "GET" else None)
        assert status and status >= 400
        assert_refused(status, headers, body, allowed=(400, 401, 404, 405))
        if method == audited:
            (record,) = marks.deny(user="bob")
            assert XSS in record["dataset"] + record["path"] or \
                "<script>alert(1)<" in record["path"]
        r = proxied.request(method, rel, headers={"Authorization": f"token {bob}"})
        assert r.status_code >= 400
        if "html" in r.headers.get("content-type", ""):
            assert XSS not in r.text and "<script>" not in r.text
        else:
            assert r.headers["content-type"].startswith("application/json")
            assert r.headers["x-content-type-options"] == "nosniff"


SSRF = ["http://169.254.169.254/latest/meta-data", "file:///etc/passwd",
        "s3://other-bucket/x", "http://127.0.0.1:8081/hub/api/users"]


@pytest.mark.parametrize("uri", SSRF)
def test_ssrf_looking_names_and_paths_are_refused(raw, bob, audit_log, uri):
    marks = Denials(audit_log)
    assert_refused(*raw("GET", f"datasets/{quote(uri, safe='')}/files/x", bob), allowed=(404,))
    assert marks.deny(user="bob", reason="unknown-dataset", dataset=uri)
    for path in (uri, quote(uri, safe="")):
        marks = Denials(audit_log)
        assert_refused(*raw("GET", f"datasets/{GENES}/files/{path}", bob))
        assert marks.deny(user="bob", action="read", dataset=GENES)
    # raw slashes never even reach a dataset handler
    assert_refused(*raw("GET", f"datasets/{uri}/files/x", bob), allowed=(400, 404))


def test_locations_never_come_from_the_request(raw, bob, evil, demo_hub):
    genes = (demo_hub.workdir / "var/data/reference-genes/genes.csv").read_bytes()
    query = "?" + "&".join(f"{k}={quote(v, safe='')}" for k, v in {
        "location": f"{GENES}-evil", "root": "/", "bucket": "other-bucket",
        "endpoint_url": SSRF[0], "url": SSRF[1]}.items())
    status, _, body = raw("GET", f"datasets/{GENES}/files/genes.csv{query}", bob,
                          {"X-Assay-Location": "s3://other-bucket/x"})
    assert (status, body) == (200, genes)
    status, _, body = raw("POST", f"datasets/{GENES}/files/genes.csv/signed-url{query}", bob,
                          body=b'{"location": "s3://other-bucket/x", "expires_in": 99999}')
    assert status == 200 and b"other-bucket" not in body and b'"expires_in": 30' in body
