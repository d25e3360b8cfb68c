"""``assay.jobs`` in a kernel: ``record`` (broker REST + metrics file, or kept locally)
and ``current_run``; importing it stays light."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import warnings
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

import assay.jobs
from assay.errors import MetricError
from assay.kernels import jobs as kjobs
from assay.kernels.broker import AssayDataError


@pytest.fixture(autouse=True)
def clean(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("ASSAY_RUN_ID", "ASSAY_JOB_ID", "ASSAY_METRICS_FILE", "ASSAY_SESSION_TOKEN",
                 "ASSAY_BROKER_URL", "HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy",
                 "https_proxy", "all_proxy"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setattr(kjobs, "_local", [])
    monkeypatch.setattr(kjobs, "_warned", set())


class Broker:
    """A stand-in broker on loopback that records metric posts."""

    def __init__(self, status: int = 201):
        self.status, self.requests = status, []
        broker = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server's name
                body = self.rfile.read(int(self.headers["Content-Length"]))
                broker.requests.append((self.path, self.headers["Authorization"],
                                        json.loads(body)))
                self.send_response(broker.status)
                self.send_header("Content-Type", "application/json")
                self.end_headers()
                self.wfile.write(b'{"message": "metrics are resting"}')

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/services/assay/"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


@pytest.fixture
def broker() -> Iterator[Broker]:
    server = Broker()
    yield server
    server.server.shutdown()
    server.server.server_close()


def in_run(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, url: str | None) -> Path:
    monkeypatch.setenv("ASSAY_RUN_ID", "r9")
    monkeypatch.setenv("ASSAY_JOB_ID", "j3")
    monkeypatch.setenv("ASSAY_METRICS_FILE", str(tmp_path / "metrics.jsonl"))
    if url:
        monkeypatch.setenv("ASSAY_BROKER_URL", url)
        monkeypatch.setenv("ASSAY_SESSION_TOKEN", "run-token")
    return tmp_path / "metrics.jsonl"


def test_importing_assay_jobs_stays_light() -> None:
    code = ("import sys, assay.jobs\n"
            "print([m for m in ('papermill', 'nbformat', 'httpx', 'tornado', 'pydantic')"
            " if m in sys.modules])")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True)
    assert out.stdout.strip() == "[]"


def test_outside_a_run_metrics_are_kept_locally_with_one_warning() -> None:
    assert assay.jobs.current_run() is None
    with pytest.warns(RuntimeWarning, match="Not running as an Assay job"):
        assay.jobs.record("auc", 0.5)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assay.jobs.record("auc", 1)
    assert [(m["name"], m["value"]) for m in assay.jobs.local_metrics()] == [("auc", 0.5),
                                                                            ("auc", 1.0)]


@pytest.mark.parametrize("name", ["", "a" * 65, "has space", "slash/no", "ünï", None, 3])
def test_bad_metric_names_are_refused(name: object) -> None:
    with pytest.raises(MetricError, match="Invalid metric name"):
        assay.jobs.record(name, 1.0)  # type: ignore[arg-type]


@pytest.mark.parametrize("value", [float("nan"), float("inf"), "0.5", True, None, [1]])
def test_bad_metric_values_are_refused(value: object) -> None:
    with pytest.raises(ValueError, match="number"):
        assay.jobs.record("auc", value)  # type: ignore[arg-type]


def test_in_a_run_metrics_are_posted_and_appended(monkeypatch: pytest.MonkeyPatch,
                                                  tmp_path: Path, broker: Broker) -> None:
    path = in_run(monkeypatch, tmp_path, broker.url)
    assert assay.jobs.current_run() == {"run_id": "r9", "job_id": "j3"}
    assay.jobs.record("loss.val-1", 2)
    assert broker.requests == [("/services/assay/api/v1/runs/r9/metrics", "token run-token",
                                {"name": "loss.val-1", "value": 2.0})]
    assert [(m["name"], m["value"]) for m in kjobs.read_metrics_file(path)] == [
        ("loss.val-1", 2.0)]
    assert assay.jobs.local_metrics() == []


def test_a_broker_failure_warns_when_the_file_keeps_the_metric(
        monkeypatch: pytest.MonkeyPatch, tmp_path: Path, broker: Broker) -> None:
    broker.status = 500
    path = in_run(monkeypatch, tmp_path, broker.url)
    with pytest.warns(RuntimeWarning, match="metrics are resting"):
        assay.jobs.record("auc", 0.7)
    assert len(kjobs.read_metrics_file(path)) == 1
    monkeypatch.delenv("ASSAY_METRICS_FILE")
    with pytest.raises(AssayDataError, match="answered 500"):
        assay.jobs.record("auc", 0.8)


def test_without_a_broker_the_metrics_file_is_enough(monkeypatch: pytest.MonkeyPatch,
                                                     tmp_path: Path) -> None:
    path = in_run(monkeypatch, tmp_path, None)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assay.jobs.record("auc", 0.25)
    path.write_text(path.read_text() + "not json\n{\"name\": \"x y\", \"value\": 1}\n")
    assert [m["value"] for m in kjobs.read_metrics_file(path)] == [0.25]
    assert kjobs.read_metrics_file(tmp_path / "none.jsonl") == []
