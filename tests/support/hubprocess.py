"""A real JupyterHub in a subprocess on 127.0.0.1 with random ports, for tests and benchmarks.

Runs Assay's ``hub_config/jupyterhub_config.py`` (or, with ``stock=True``, a plain
JupyterHub with ``SimpleLocalProcessSpawner`` as a baseline) in its own work folder.
"""

from __future__ import annotations

import os
import secrets
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx

REPO = Path(__file__).resolve().parents[2]
HUB_CONFIG = REPO / "hub_config" / "jupyterhub_config.py"
CHP = REPO / "node_modules" / ".bin" / "configurable-http-proxy"
AWKWARD_BASE = "/@/space%20word/"
DEMO_PASSWORD = "assay-demo"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


STOCK_CONFIG = """
import sys
c.JupyterHub.spawner_class = "jupyterhub.spawner.SimpleLocalProcessSpawner"
c.JupyterHub.authenticator_class = "jupyterhub.authenticators.shared.SharedPasswordAuthenticator"
c.SharedPasswordAuthenticator.user_password = {password!r}
c.Authenticator.allow_all = True
c.SimpleLocalProcessSpawner.home_dir_template = {home!r}
c.Spawner.cmd = [sys.executable, "-m", "jupyterhub.singleuser"]
c.Spawner.default_url = "/lab"
c.Spawner.args = {args!r}
c.JupyterHub.services = [{{"name": "assay-admin", "api_token": {token!r}}}]
c.JupyterHub.load_roles = [{{"name": "admin", "services": ["assay-admin"]}}]
c.JupyterHub.db_url = "sqlite:///jupyterhub.sqlite"
c.ConfigurableHTTPProxy.command = [{chp!r}]
"""


class HubProcess:
    """One hub: ``start()``, ``api()``, ``spawn()``, ``stop()``."""

    def __init__(self, workdir: Path, config_text: str | None = None, *,
                 base_url: str = AWKWARD_BASE, stock: bool = False,
                 extra_args: list[str] | None = None, env: dict[str, str] | None = None,
                 bind_host: str = "127.0.0.1"):
        self.workdir = Path(workdir)
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.base_url = base_url
        self.stock = stock
        self.bind_host = bind_host
        self.extra_args = list(extra_args or [])
        self.extra_env = dict(env or {})
        self.token = secrets.token_hex(24)
        self.port, self.api_port, self.hub_port = free_port(), free_port(), free_port()
        self.broker_port = free_port()
        self.config_path = self.workdir / "assay.yaml"
        if config_text is not None:
            self.config_path.write_text(config_text)
        self.proc: subprocess.Popen | None = None
        self.log_path = self.workdir / "hub.log"

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}{self.base_url}"

    @property
    def broker_url(self) -> str:
        """The broker as kernels reach it (directly, not through the proxy)."""
        return f"http://127.0.0.1:{self.broker_port}{self.base_url}services/assay/"

    @property
    def api_url(self) -> str:
        return self.url + "hub/api/"

    def _config_file(self) -> Path:
        if not self.stock:
            return HUB_CONFIG
        lab_args = ["--LabApp.news_url=None",
                    "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate"]
        if os.geteuid() == 0:
            lab_args.insert(0, "--ServerApp.allow_root=True")
        path = self.workdir / "stock_config.py"
        path.write_text(STOCK_CONFIG.format(
            password=DEMO_PASSWORD, home=str(self.workdir / "home" / "{username}"),
            args=lab_args, token=self.token, chp=str(CHP)))
        return path

    def command(self) -> list[str]:
        return [sys.executable, "-m", "jupyterhub", "-f", str(self._config_file()),
                f"--JupyterHub.bind_url=http://{self.bind_host}:{self.port}{self.base_url}",
                f"--JupyterHub.hub_bind_url=http://127.0.0.1:{self.hub_port}",
                f"--ConfigurableHTTPProxy.api_url=http://127.0.0.1:{self.api_port}",
                *self.extra_args]

    def environ(self) -> dict[str, str]:
        env = dict(os.environ, ASSAY_ADMIN_TOKEN=self.token, **self.extra_env)
        env["ASSAY_CONFIG"] = str(self.config_path)
        env["ASSAY_BROKER_PORT"] = str(self.broker_port)
        env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
        return env

    def launch(self) -> subprocess.Popen:
        log = self.log_path.open("ab")
        self.proc = subprocess.Popen(self.command(), cwd=self.workdir, env=self.environ(),
                                     stdout=log, stderr=subprocess.STDOUT,
                                     start_new_session=True)
        return self.proc

    def start(self, timeout: float = 90) -> HubProcess:
        self.launch()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"hub exited with {self.proc.returncode}:\n{self.log()}")
            try:
                if httpx.get(self.api_url, timeout=2).status_code == 200:
                    return self
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        raise TimeoutError(f"hub did not answer within {timeout}s:\n{self.log()}")

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 40) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.send_signal(sig)
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(10)

    # -- REST helpers -----------------------------------------------------------

    def api(self, method: str, path: str, token: str | None = None, **kw: Any) -> httpx.Response:
        headers = {"Authorization": f"token {token or self.token}"}
        return httpx.request(method, self.api_url + path.lstrip("/"), headers=headers,
                             timeout=kw.pop("timeout", 60), **kw)

    def user_token(self, user: str) -> str:
        r = self.api("POST", f"users/{user}/tokens", json={"note": "test"})
        r.raise_for_status()
        return r.json()["token"]

    def request_spawn(self, user: str, profile: str | None, token: str | None = None,
                      server: str = "") -> httpx.Response:
        body = {} if profile is None else {"profile": profile}
        path = f"users/{user}/servers/{server}" if server else f"users/{user}/server"
        return self.api("POST", path, token=token, json=body)

    def wait_ready(self, user: str, server: str = "", timeout: float = 90) -> dict:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            model = self.api("GET", f"users/{user}").json()
            info = model.get("servers", {}).get(server)
            if info and info.get("ready"):
                return info
            if not info and not model.get("pending"):
                raise RuntimeError(f"{user}'s server vanished:\n{self.log()[-4000:]}")
            time.sleep(0.1)
        raise TimeoutError(f"{user}'s server not ready in {timeout}s")

    def spawn(self, user: str, profile: str | None, token: str | None = None) -> dict:
        r = self.request_spawn(user, profile, token)
        if r.status_code not in (201, 202):
            raise RuntimeError(f"spawn refused: {r.status_code} {r.text}")
        return self.wait_ready(user)

    def stop_server(self, user: str, timeout: float = 60) -> None:
        r = self.api("DELETE", f"users/{user}/server")
        assert r.status_code in (202, 204), r.text
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            model = self.api("GET", f"users/{user}").json()
            if "" not in model.get("servers", {}):
                return
            time.sleep(0.1)
        raise TimeoutError(f"{user}'s server did not stop")

    def audit(self, after: int = 0, **query: str) -> list[dict]:
        """Every audit record after seq ``after`` matching ``query`` (user, dataset,
        decision), read from the Assay service with the hub's admin token."""
        records: list[dict] = []
        while True:
            r = httpx.get(self.broker_url + "api/v1/audit", timeout=30,
                          params={**query, "after": str(after), "limit": "1000"},
                          headers={"Authorization": f"token {self.token}"})
            assert r.status_code == 200, r.text
            page = r.json()["records"]
            records += page
            if len(page) < 1000:
                return records
            after = page[-1]["seq"]
