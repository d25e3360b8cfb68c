"""moto's real S3 server in a subprocess on 127.0.0.1 and a free port, for tests.

``with moto_server() as endpoint: ...`` yields ``http://127.0.0.1:PORT``. moto does not
check presigned-URL signatures or expiry (see /work/shared/recipes.md): test what is
signed, not that S3 enforces it.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def moto_executable() -> str:
    beside = Path(sys.executable).with_name("moto_server")
    found = str(beside) if beside.exists() else shutil.which("moto_server")
    if not found:
        raise RuntimeError("moto_server not found; pip install 'moto[server]'")
    return found


def _wait(proc: subprocess.Popen, url: str, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            return False
        try:
            if httpx.get(url, timeout=1.0, trust_env=False).status_code < 500:
                return True
        except httpx.TransportError:
            pass
        time.sleep(0.05)
    return False


def _stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=5)


@contextmanager
def moto_server(log_path: Path | None = None, timeout: float = 20.0) -> Iterator[str]:
    """Start ``moto_server -H 127.0.0.1 -p PORT``; yield its URL; kill it afterwards."""
    env = {**os.environ, "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
           "AWS_EC2_METADATA_DISABLED": "true"}
    for _attempt in range(3):  # the port may be taken between choosing and binding
        port = _free_port()
        url = f"http://127.0.0.1:{port}"
        log = open(log_path, "ab") if log_path else subprocess.DEVNULL
        try:
            proc = subprocess.Popen(
                [moto_executable(), "-H", "127.0.0.1", "-p", str(port)],
                stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                env=env, start_new_session=True,
            )
        finally:
            if log_path:
                log.close()
        try:
            if _wait(proc, url + "/", timeout):
                yield url
                return
        finally:
            _stop(proc)
    raise RuntimeError(f"moto_server did not start (log: {log_path})")
