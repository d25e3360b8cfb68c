"""What each ``assay`` subcommand does."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from .. import profiles
from ..auth import DEMO_PASSWORD_ENV
from ..config import AssayConfig, default_path, load
from ..errors import ConfigError
from ..hub import PORT_ENV, find_proxy


def _load_or_report(file: str | None) -> AssayConfig | None:
    try:
        return load(file or default_path())
    except ConfigError as exc:
        print(exc.user_message, file=sys.stderr)
        return None


def validate(args: argparse.Namespace) -> int:
    config = _load_or_report(args.file)
    if config is None:
        return 1
    print(f"OK: {args.file or default_path()} ({len(config.profiles)} profiles, "
          f"mode {config.mode})")
    return 0


def profiles_list(args: argparse.Namespace) -> int:
    config = _load_or_report(args.config)
    if config is None:
        return 1
    shown = config.profiles
    if args.user:
        if args.user not in config.users():
            print(f"No such user: {args.user}. Users include: {', '.join(config.users())}",
                  file=sys.stderr)
            return 1
        shown = profiles.usable(config, config.groups_of(args.user))
    rows = [("SLUG", "NAME", "RESOURCES", "GROUPS", "ZONE")]
    for p in shown:
        rows.append((p.slug, p.display_name, profiles.summary(p), ",".join(p.groups) or "(all)",
                     p.zone))
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    for row in rows:
        print("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip())
    return 0


def _banner(config: AssayConfig, port: int) -> str:
    lines = [f"Assay hub starting on http://{config.hub.ip}:{port}{config.hub.base_url}"]
    if config.auth.type == "demo":
        password = os.environ.get(DEMO_PASSWORD_ENV) or config.auth.demo.password
        lines.append(f"Demo users (shared password '{password}'):")
        for user in config.users():
            role = ["admin"] if user in config.admins else []
            groups = ", ".join(role + config.groups_of(user)) or "no groups"
            lines.append(f"  {user:<10} {groups}")
        lines.append("Log in at the address above; stop with Ctrl-C.")
    return "\n".join(lines)


def up(args: argparse.Namespace) -> int:
    file = Path(args.config or default_path()).resolve()
    config = _load_or_report(str(file))
    if config is None:
        return 2
    if find_proxy() is None:
        print("configurable-http-proxy not found: run `make up`, or "
              "`npm install configurable-http-proxy` in the repository.", file=sys.stderr)
        return 2
    port = args.port or config.hub.port
    if config.auth.type == "demo":
        from ..demo_data import generate  # pandas is slow to import; only here

        for path in generate(config):
            print(f"Demo data written: {path}")
    env = dict(os.environ, ASSAY_CONFIG=str(file), **{PORT_ENV: str(port)})
    print(_banner(config, port), flush=True)
    hub_config = Path(__file__).resolve().parent.parent / "jupyterhub_config.py"
    argv = [sys.executable, "-m", "jupyterhub", "-f", str(hub_config)]
    os.execve(sys.executable, argv, env)
    return 0  # not reached
