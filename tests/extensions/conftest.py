"""Fixtures for the server extension: a real single-user server of the demo hub, its REST
API, and code run in its real kernels over the kernel websocket."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator

import httpx
import pytest
import websocket

from hubprocess import HubProcess

PURPOSE = "trial 042 safety review (extension tests)"


class Server:
    """One user's single-user server, reached through the hub's proxy with a user token."""

    def __init__(self, hub: HubProcess, user: str):
        self.user = user
        self.url = f"{hub.url}user/{user}/"
        self.headers = {"Authorization": f"token {hub.user_token(user)}"}
        self.http = httpx.Client(base_url=self.url, headers=self.headers, timeout=60)
        self.saved: set[str] = set()

    def save(self, path: str, model: dict) -> None:
        """Save through the contents API, as JupyterLab does (removed after the module)."""
        r = self.http.put(f"api/contents/{path}", json=model)
        assert r.status_code in (200, 201), r.text
        self.saved.add(path)

    def remove_saved(self) -> None:
        for path in self.saved:
            self.http.delete(f"api/contents/{path}")

    def start_kernel(self, path: str) -> str:
        """A session (and kernel) for the notebook at ``path``; returns the kernel id."""
        r = self.http.post("api/sessions", json={"path": path, "name": path, "type": "notebook",
                                                 "kernel": {"name": "python3"}})
        assert r.status_code == 201, r.text
        return r.json()["kernel"]["id"]

    def stop_sessions(self, path: str) -> None:
        for session in self.http.get("api/sessions").json():
            if session["path"] == path:
                assert self.http.delete(f"api/sessions/{session['id']}").status_code == 204

    def execute(self, kernel_id: str, code: str, timeout: float = 90) -> str:
        """Run ``code`` in the kernel; its printed output (an error fails the test)."""
        url = self.url.replace("http://", "ws://", 1) + f"api/kernels/{kernel_id}/channels"
        ws = websocket.create_connection(url, timeout=timeout,
                                         header=[f"{k}: {v}" for k, v in self.headers.items()])
        msg_id = uuid.uuid4().hex
        ws.send(json.dumps({
            "header": {"msg_id": msg_id, "msg_type": "execute_request", "session": msg_id,
                       "username": self.user, "version": "5.3", "date": ""},
            "parent_header": {}, "metadata": {}, "channel": "shell",
            "content": {"code": code, "silent": False, "store_history": False,
                        "user_expressions": {}, "allow_stdin": False, "stop_on_error": True}}))
        output, error, replied, idle = [], None, False, False
        deadline = time.monotonic() + timeout
        try:
            while not (replied and idle):
                ws.settimeout(max(0.1, deadline - time.monotonic()))
                msg = json.loads(ws.recv())
                if msg.get("parent_header", {}).get("msg_id") != msg_id:
                    continue
                kind, content = msg["msg_type"], msg["content"]
                if kind == "stream":
                    output.append(content["text"])
                elif kind == "error":
                    error = f"{content['ename']}: {content['evalue']}"
                elif kind == "execute_reply":
                    replied = True
                elif kind == "status" and content["execution_state"] == "idle":
                    idle = True
        finally:
            ws.close()
        assert error is None, error
        return "".join(output)


@pytest.fixture(scope="module")
def alice_server(demo_hub: HubProcess) -> Iterator[Server]:
    """alice's server on ``secure-cpu`` (with a purpose) for the module."""
    if demo_hub.api("GET", "users/alice").json().get("servers"):
        demo_hub.stop_server("alice")
    r = demo_hub.api("POST", "users/alice/server",
                     json={"profile": "secure-cpu", "purpose": PURPOSE})
    assert r.status_code in (201, 202), r.text
    try:
        demo_hub.wait_ready("alice")
        server = Server(demo_hub, "alice")
        yield server
        server.remove_saved()
    finally:
        if demo_hub.api("GET", "users/alice").json().get("servers"):
            demo_hub.stop_server("alice")
