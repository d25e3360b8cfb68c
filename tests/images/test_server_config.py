"""The single-user images' ``jupyter_server_config.py``, loaded by a real Jupyter server
with jupyter-server-proxy: the proxy reaches loopback dashboards and this user's own Dask
schedulers, and refuses other users' schedulers, the hub and cloud metadata (SSRF)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import pytest

from assay.dask.kube import cluster_name, scheduler_host
from hubprocess import free_port

CONFIG = Path(__file__).resolve().parents[2] / "images" / "jupyter_server_config.py"
TOKEN = "server-config-test-token"
USER = "alice"


class Dashboard(BaseHTTPRequestHandler):
    def do_GET(self) -> None:  # noqa: N802 -- http.server's name
        body = b"dask dashboard"
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture(scope="module")
def dashboard() -> Iterator[int]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), Dashboard)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield server.server_address[1]
    server.shutdown()


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[httpx.Client]:
    """A Jupyter server whose only config file is the images' one (Kubernetes mode env)."""
    config_dir = tmp_path_factory.mktemp("jupyter-config")
    shutil.copy(CONFIG, config_dir / "jupyter_server_config.py")
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("JUPYTER")}
    env.update(JUPYTER_CONFIG_DIR=str(config_dir), JUPYTER_CONFIG_PATH=str(config_dir),
               JUPYTERHUB_USER=USER, ASSAY_MODE="kubernetes", ASSAY_POD_NAMESPACE="assay")
    proc = subprocess.Popen(
        [sys.executable, "-m", "jupyter_server", "--no-browser", "--allow-root", "--ip=127.0.0.1",
         f"--port={port}", "--ServerApp.port_retries=0", f"--IdentityProvider.token={TOKEN}",
         f"--ServerApp.root_dir={config_dir}", "--ServerApp.base_url=/@/space%20word/"],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    base = f"http://127.0.0.1:{port}/@/space%20word/"
    client = httpx.Client(base_url=base, headers={"Authorization": f"token {TOKEN}"},
                          timeout=30)
    deadline = time.monotonic() + 60
    while True:
        try:
            if client.get("api/status").status_code == 200:
                break
        except httpx.TransportError:
            pass
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            pytest.fail(f"jupyter server did not start:\n{proc.stderr.read()[-3000:]}")
        time.sleep(0.2)
    yield client
    client.close()
    proc.terminate()
    proc.wait(timeout=30)


def test_the_proxy_reaches_a_loopback_dashboard(server: httpx.Client, dashboard: int) -> None:
    r = server.get(f"proxy/127.0.0.1:{dashboard}/status")
    assert r.status_code == 200 and r.text == "dask dashboard"


@pytest.mark.parametrize("host", [
    scheduler_host(cluster_name("bob", "0123abcd"), "assay"),  # another user's scheduler
    "169.254.169.254",  # cloud metadata
    "hub", "kubernetes.default.svc"])
def test_the_proxy_refuses_other_hosts(server: httpx.Client, host: str) -> None:
    r = server.get(f"proxy/{host}:8787/status")
    assert r.status_code == 403, (r.status_code, r.text[:200])


def test_the_users_own_scheduler_passes_the_allowlist(server: httpx.Client) -> None:
    """Not resolvable here, so the proxy fails to connect -- but it is not refused."""
    host = scheduler_host(cluster_name(USER, "0123abcd"), "assay")
    r = server.get(f"proxy/{host}:8787/status")
    assert r.status_code != 403, r.text[:200]
