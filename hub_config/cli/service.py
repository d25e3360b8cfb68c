"""Plumbing of the ``assay`` commands that talk to the Assay service's REST API
(``jobs``, ``secrets``, ``dask``): connection options, error printing, tables and times.

Connection: ``--url`` or ``$ASSAY_BROKER_URL``; ``--token`` or ``$ASSAY_SESSION_TOKEN``,
``$JUPYTERHUB_API_TOKEN``, ``$ASSAY_TOKEN`` (see ``assay.jobs.client``). A refusal
prints the service's message and its problems, one a line, and exits 1.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any

from ..jobs.client import JobsApiError, JobsClient

Command = Callable[[JobsClient, argparse.Namespace], int]


def table(rows: Sequence[Sequence[object]]) -> str:
    """Columns aligned as ``assay profiles list`` aligns them (two spaces apart)."""
    cells = [[text(c) for c in row] for row in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(cells[0]))]
    return "\n".join("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip()
                     for row in cells)


def text(value: object) -> str:
    """A table cell: ``-`` for nothing."""
    if value is None or value == "":
        return "-"
    return str(value)


def when(value: object) -> str:
    """An ISO time from the service as ``2026-11-22 14:03:07Z`` (UTC)."""
    if not isinstance(value, str) or not value:
        return "-"
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return value
    if moment.tzinfo is not None:
        moment = moment.astimezone(UTC)
    return moment.strftime("%Y-%m-%d %H:%M:%S") + ("Z" if moment.tzinfo else "")


def seconds(value: object) -> str:
    return f"{value:.1f} s" if isinstance(value, int | float) else "-"


def print_error(exc: JobsApiError) -> int:
    print("\n".join(exc.lines()), file=sys.stderr)
    return 1


def run(action: Command) -> Callable[[argparse.Namespace], int]:
    """``action`` with a client connected as the options say; a refusal printed, exit 1."""
    def call(args: argparse.Namespace) -> int:
        try:
            with JobsClient.connect(args.url, args.token) as client:
                return action(client, args)
        except JobsApiError as exc:
            return print_error(exc)
    return call


def connection_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--url", help="the Assay service, e.g. https://hub.example.org/"
                        "services/assay/ (default: $ASSAY_BROKER_URL)")
    parser.add_argument("--token", help="hub API token or session credential (default: "
                        "$ASSAY_SESSION_TOKEN, $JUPYTERHUB_API_TOKEN or $ASSAY_TOKEN)")


def command(sub: Any, name: str, action: Command, help_: str, description: str,
            json_option: bool = False) -> argparse.ArgumentParser:
    """A subcommand ``name`` running ``action`` with the connection options."""
    parser = sub.add_parser(name, help=help_, description=description)
    connection_options(parser)
    if json_option:
        parser.add_argument("--json", action="store_true", help="print the service's JSON")
    parser.set_defaults(func=run(action))
    return parser
