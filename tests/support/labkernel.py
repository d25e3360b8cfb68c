"""Code run in a real kernel of a user's single-user server (through the hub's proxy,
over the kernel websocket), as a notebook runs it: the kernel has the server's
``ASSAY_*`` credential, ``$JPY_SESSION_NAME`` and its own kernel id."""

from __future__ import annotations

import json
import time
import uuid

import httpx
import websocket

from hubprocess import HubProcess


class KernelError(AssertionError):
    """The code raised in the kernel: ``ename``, ``evalue`` and the ``traceback`` lines
    IPython sent (what the notebook shows)."""

    def __init__(self, ename: str, evalue: str, traceback: list[str] | None = None):
        super().__init__(f"{ename}: {evalue}")
        self.ename, self.evalue, self.traceback = ename, evalue, list(traceback or [])


class UserServer:
    """One user's running server: start kernels for notebook paths, run code in them."""

    def __init__(self, hub: HubProcess, user: str):
        self.user = user
        self.url = f"{hub.url}user/{user}/"
        self.headers = {"Authorization": f"token {hub.user_token(user)}"}
        self.http = httpx.Client(base_url=self.url, headers=self.headers, timeout=60)

    def start_kernel(self, path: str) -> str:
        """A session (and a new kernel) for the notebook at ``path``; the kernel id."""
        r = self.http.post("api/sessions", json={"path": path, "name": path, "type": "notebook",
                                                 "kernel": {"name": "python3"}})
        assert r.status_code == 201, r.text
        return r.json()["kernel"]["id"]

    def stop_kernel(self, kernel_id: str) -> None:
        for session in self.http.get("api/sessions").json():
            if (session.get("kernel") or {}).get("id") == kernel_id:
                self.http.delete(f"api/sessions/{session['id']}")

    def run(self, kernel_id: str, code: str, timeout: float = 120) -> str:
        """Run ``code``; its printed output. An exception in the kernel raises
        ``KernelError`` with its name and message."""
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
        output: list[str] = []
        error: KernelError | None = None
        replied = idle = False
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
                    error = KernelError(content["ename"], content["evalue"],
                                        content.get("traceback"))
                elif kind == "execute_reply":
                    replied = True
                elif kind == "status" and content["execution_state"] == "idle":
                    idle = True
        finally:
            ws.close()
        if error is not None:
            raise error
        return "".join(output)

    def close(self) -> None:
        self.http.close()
