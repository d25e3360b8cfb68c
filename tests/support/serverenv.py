"""What a user's single-user server process actually received: its environment."""

from __future__ import annotations

from pathlib import Path


def _environ(pid_dir: Path) -> dict[str, str]:
    try:
        raw = (pid_dir / "environ").read_bytes()
    except OSError:
        return {}
    pairs = (item.split(b"=", 1) for item in raw.split(b"\0") if b"=" in item)
    return {k.decode(errors="replace"): v.decode(errors="replace") for k, v in pairs}


def server_env(user: str, hub_port: int | None = None) -> dict[str, str]:
    """Environment of the running ``jupyterhub.singleuser`` process serving ``user``."""
    for pid_dir in Path("/proc").iterdir():
        if not pid_dir.name.isdigit():
            continue
        try:
            cmdline = (pid_dir / "cmdline").read_bytes()
        except OSError:
            continue
        if b"jupyterhub.singleuser" not in cmdline:
            continue
        env = _environ(pid_dir)
        if env.get("JUPYTERHUB_USER") != user:
            continue
        if hub_port and f":{hub_port}" not in env.get("JUPYTERHUB_API_URL", ""):
            continue
        return env
    raise LookupError(f"no running single-user server for {user}")


def broker_process(broker_port: int) -> tuple[int, dict[str, str]] | None:
    """(pid, environment) of the ``python -m assay.broker`` serving ``broker_port``."""
    for pid_dir in Path("/proc").iterdir():
        try:
            if b"assay.broker" not in (pid_dir / "cmdline").read_bytes():
                continue
        except OSError:
            continue
        env = _environ(pid_dir)
        if env.get("JUPYTERHUB_SERVICE_URL", "").endswith(f":{broker_port}"):
            return int(pid_dir.name), env
    return None
