"""A throwaway PostgreSQL 15 cluster from Debian's packages, for tests.

``PostgresCluster(...).start()`` runs ``initdb`` (as the ``postgres`` user when we are
root, as Debian's packaging requires) in a fresh folder under /tmp, then ``pg_ctl start``
on 127.0.0.1 with a free port and a private socket folder; ``stop()`` shuts it down and
removes the folder. Nothing is installed here: ``make test-deps`` installs the binaries.
"""

from __future__ import annotations

import os
import pwd
import shutil
import socket
import subprocess
import tempfile
from pathlib import Path

BINDIR = Path(os.environ.get("ASSAY_PG_BINDIR", "/usr/lib/postgresql/15/bin"))
OWNER = "postgres"
MISSING = (f"PostgreSQL 15 binaries not found in {BINDIR} (initdb, pg_ctl). "
           "Run `make test-deps`, which installs Debian's `postgresql` package.")
START_TIMEOUT_S = 60


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def missing_binaries() -> str | None:
    """None when initdb and pg_ctl are there, else what to do about it."""
    ok = all(os.access(BINDIR / name, os.X_OK) for name in ("initdb", "pg_ctl", "postgres"))
    return None if ok else MISSING


class PostgresCluster:
    """One cluster in its own folder; ``url`` once started."""

    def __init__(self) -> None:
        self.root = Path(tempfile.mkdtemp(prefix="assay-pg-"))
        self.data, self.sockets, self.log = (self.root / "data", self.root / "sockets",
                                             self.root / "server.log")
        self.port = 0
        self._as_owner = os.geteuid() == 0

    @property
    def url(self) -> str:
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/postgres"

    def _run(self, *argv: str) -> subprocess.CompletedProcess:
        prefix = ["runuser", "-u", OWNER, "--"] if self._as_owner else []
        return subprocess.run([*prefix, *argv], capture_output=True, text=True,
                              timeout=START_TIMEOUT_S, cwd=self.root)

    def _check(self, result: subprocess.CompletedProcess, what: str) -> None:
        if result.returncode != 0:
            log = self.log.read_text(errors="replace")[-2000:] if self.log.exists() else ""
            raise RuntimeError(f"{what} failed ({result.returncode}):\n{result.stdout}"
                               f"{result.stderr}{log}")

    def _prepare(self) -> None:
        self.sockets.mkdir()
        if self._as_owner:
            owner = pwd.getpwnam(OWNER)
            for path in (self.root, self.sockets):
                os.chown(path, owner.pw_uid, owner.pw_gid)
        result = self._run(str(BINDIR / "initdb"), "-D", str(self.data), "--auth=trust",
                           "--username=postgres", "--encoding=UTF8", "--locale=C",
                           "--no-sync")
        self._check(result, "initdb")

    def _pg_ctl_start(self) -> subprocess.CompletedProcess:
        options = (f"-c listen_addresses=127.0.0.1 -p {self.port} -k {self.sockets} "
                   "-c max_connections=100")
        return self._run(str(BINDIR / "pg_ctl"), "-D", str(self.data), "-l", str(self.log),
                         "-w", "-t", str(START_TIMEOUT_S), "-o", options, "start")

    def start(self, attempts: int = 3) -> str:
        """initdb and start; retries on another free port if the first one was taken."""
        self._prepare()
        for attempt in range(attempts):
            self.port = free_port()
            result = self._pg_ctl_start()
            if result.returncode == 0:
                return self.url
            if attempt == attempts - 1:
                self._check(result, "pg_ctl start")
        raise AssertionError("not reached")

    def stop(self) -> None:
        if self.data.is_dir() and self.port:
            self._run(str(BINDIR / "pg_ctl"), "-D", str(self.data), "-m", "fast", "-w",
                      "stop")
        shutil.rmtree(self.root, ignore_errors=True)
