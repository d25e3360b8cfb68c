"""Webhooks: delivered to a real receiver on 127.0.0.1; other hosts never contacted."""

from __future__ import annotations

from datetime import UTC, datetime

import httpx
import pytest

from assay.errors import WebhookRefused
from assay.jobs.model import Job, Run, RunStatus
from assay.jobs.notify import Notifier, check_webhook, payload

T = datetime(2025, 5, 5, 6, tzinfo=UTC)
JOB = Job(id=7, owner="alice", name="nightly", notebook_key="k", notebook_sha256="0" * 64,
          notebook_path="a.ipynb", parameters={"token": "secret://db"}, profile="cpu-small",
          schedule="0 6 * * *", timezone="UTC", timeout_s=60, retries=0, retry_backoff_s=1,
          max_concurrency=1, catchup="latest", webhook=None, drift_rules=[], created_at=T,
          paused=False, last_slot=None)
RUN = Run(id=42, job_id=7, slot=T, attempt=1, status=RunStatus.FAILED, not_before=T,
          created_at=T, started_at=T, finished_at=T, parameters={"token": "secret://db"},
          notebook_sha256="0" * 64, profile="cpu-small", image=None, executor_ref="r",
          workdir="/w", cells_done=1, cells_total=3, error="NameError: x", outputs={},
          drift=None, session_id=None)


class Recorder:
    """A real httpx client whose request hook notes every request it would send."""

    def __init__(self) -> None:
        self.sent: list[str] = []
        self.client = httpx.Client(event_hooks={"request": [self.note]}, timeout=2,
                                   trust_env=False)

    def note(self, request: httpx.Request) -> None:
        self.sent.append(str(request.url))


def test_delivered_to_a_local_receiver(hooks, notifier):
    body = payload("run.failed", JOB, RUN)
    assert notifier.notify(hooks.url, body).result(10) is True
    [received] = hooks.wait(1)
    assert received == body
    assert received["run"]["parameters"] == {"token": "secret://db"}
    assert received["job"] == {"id": 7, "name": "nightly", "owner": "alice"}
    assert (received["event"], received["run"]["error"]) == ("run.failed", "NameError: x")


@pytest.mark.parametrize("url", [
    "http://169.254.169.254/latest/meta-data/",
    "http://169.254.169.254#@127.0.0.1/",
    "http://127.0.0.1@169.254.169.254/",
    "http://2852039166/",  # 169.254.169.254 as one number
    "http://127.0.0.2:9/",
    "http://localhost.evil.example/",
    "file:///etc/passwd",
    "gopher://127.0.0.1/",
])
def test_other_hosts_are_refused_without_a_request(url):
    recorder = Recorder()
    sender = Notifier(lambda: ["127.0.0.1", "localhost"], client=recorder.client)
    try:
        assert sender.notify(url, {"event": "x"}).result(10) is False
    finally:
        sender.close()
    assert recorder.sent == []
    with pytest.raises(WebhookRefused):
        check_webhook(url, ["127.0.0.1", "localhost"])


def test_refusal_names_the_allowed_hosts():
    with pytest.raises(WebhookRefused) as err:
        check_webhook("http://169.254.169.254/x", ["localhost", "127.0.0.1"])
    assert err.value.user_message == (
        "webhook: host '169.254.169.254' is not allowed; jobs.webhook_hosts of the admin "
        "config allows: 127.0.0.1, localhost")
    assert err.value.status_code == 400
    with pytest.raises(WebhookRefused, match=r"allows: \(none: the admin allows no webhooks\)"):
        check_webhook("http://localhost/x", [])


def test_the_allowlist_is_read_at_every_send(hooks):
    allowed = ["127.0.0.1"]
    sender = Notifier(lambda: allowed)
    try:
        assert sender.send(hooks.url, {"n": 1}) is True
        allowed.clear()  # the admin removed the host: refused from now on
        assert sender.send(hooks.url, {"n": 2}) is False
    finally:
        sender.close()
    assert hooks.wait(1) == [{"n": 1}]


def test_a_dead_or_failing_receiver_is_logged_not_raised(notifier, caplog):
    # a port nobody listens on: connection refused
    assert notifier.send("http://127.0.0.1:9/hook", {"n": 1}) is False
    assert "webhook to 127.0.0.1 failed" in caplog.text


def test_redirects_are_not_followed(notifier):
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
    from threading import Thread

    class Redirect(BaseHTTPRequestHandler):
        def do_POST(self):  # noqa: N802
            self.send_response(307)
            self.send_header("Location", "http://169.254.169.254/")
            self.end_headers()

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Redirect)
    Thread(target=server.serve_forever, daemon=True).start()
    try:
        assert notifier.send(f"http://127.0.0.1:{server.server_address[1]}/", {}) is False
    finally:
        server.shutdown()
        server.server_close()
