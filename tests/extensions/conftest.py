"""Fixtures for the server extension: a real single-user server of the demo hub, its REST
API, and code run in its real kernels over the kernel websocket."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from hubprocess import HubProcess
from labkernel import UserServer

PURPOSE = "trial 042 safety review (extension tests)"


class Server(UserServer):
    """One user's single-user server, reached through the hub's proxy with a user token;
    notebooks saved through it are removed after the module."""

    def __init__(self, hub: HubProcess, user: str):
        super().__init__(hub, user)
        self.saved: set[str] = set()

    def save(self, path: str, model: dict) -> None:
        """Save through the contents API, as JupyterLab does (removed after the module)."""
        r = self.http.put(f"api/contents/{path}", json=model)
        assert r.status_code in (200, 201), r.text
        self.saved.add(path)

    def remove_saved(self) -> None:
        for path in self.saved:
            self.http.delete(f"api/contents/{path}")

    def stop_sessions(self, path: str) -> None:
        for session in self.http.get("api/sessions").json():
            if session["path"] == path:
                assert self.http.delete(f"api/sessions/{session['id']}").status_code == 204

    execute = UserServer.run  # an exception in the kernel fails the test (KernelError)


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
