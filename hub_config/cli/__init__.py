"""The ``assay`` command line: ``assay up``, ``assay config validate``, ``assay profiles list``."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from . import audit, commands, dask, deploy, jobs


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="assay", description="Assay: a JupyterHub workbench for sensitive R&D data.")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    up = sub.add_parser("up", help="start the hub with the admin config",
                        description="Start JupyterHub with Assay's config on 127.0.0.1.")
    up.add_argument("--port", type=int, help="public port (default: hub.port of assay.yaml)")
    up.add_argument("--config", help="admin YAML (default: $ASSAY_CONFIG or the shipped one)")
    up.set_defaults(func=commands.up)

    config = sub.add_parser("config", help="admin config commands",
                            description="Work with the admin YAML (assay.yaml).")
    config_sub = config.add_subparsers(dest="action", metavar="ACTION", required=True)
    validate = config_sub.add_parser(
        "validate", help="check a config file",
        description="Print OK, or every error with its path; exit 1 when invalid.")
    validate.add_argument("file", nargs="?", help="YAML file (default: $ASSAY_CONFIG or shipped)")
    validate.set_defaults(func=commands.validate)

    profiles = sub.add_parser("profiles", help="compute profile commands",
                              description="Inspect the compute profiles of the admin config.")
    profiles_sub = profiles.add_subparsers(dest="action", metavar="ACTION", required=True)
    plist = profiles_sub.add_parser(
        "list", help="list profiles",
        description="List the compute profiles, or those a user may use.")
    plist.add_argument("--user", help="only the profiles this user may use (groups from the YAML)")
    plist.add_argument("--config", help="admin YAML (default: $ASSAY_CONFIG or the shipped one)")
    plist.set_defaults(func=commands.profiles_list)
    audit.register(sub)
    jobs.register(sub)
    dask.register(sub)
    deploy.register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return int(args.func(args) or 0)


if __name__ == "__main__":
    sys.exit(main())
