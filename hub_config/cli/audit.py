"""``assay audit verify`` and ``assay audit tail``: check and read the broker's audit log.

The database is ``--db URL``, else ``database.url`` of the admin config (a relative
SQLite path is relative to the current directory). Neither command writes: a missing
database or an unmigrated one is reported, not created.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import Engine, inspect
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, SQLAlchemyError

from ..broker.audit import MAX_LIMIT, AuditLog, render
from ..config import default_path, load
from ..db.engine import make_engine, sqlite_path
from ..errors import ConfigError

DEFAULT_TAIL = 20


class _Unavailable(Exception):
    """The audit database cannot be read; the message says why (no secrets)."""


def _count(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a whole number, got {text!r}") from None
    if not 1 <= value <= MAX_LIMIT:
        raise argparse.ArgumentTypeError(f"must be between 1 and {MAX_LIMIT}, got {value}")
    return value


def _url(args: argparse.Namespace) -> str:
    if args.db:
        return args.db
    try:
        return load(args.config or default_path()).database.url
    except ConfigError as exc:
        raise _Unavailable(exc.user_message) from None


def _shown(url: str) -> str:
    path = sqlite_path(url)
    return str(path) if path else make_url(url).render_as_string(hide_password=True)


def _reason(exc: SQLAlchemyError) -> str:
    detail = str(getattr(exc, "orig", None) or exc).strip().splitlines()
    return detail[0] if detail else type(exc).__name__


def _engine(url: str) -> Engine:
    try:
        path = sqlite_path(url)
    except ArgumentError:
        raise _Unavailable(f"Not a database URL: {url!r}") from None
    if path is not None and not path.is_file():
        raise _Unavailable(f"No audit database at {path}")
    engine = make_engine(url)
    if not inspect(engine).has_table("assay_audit"):
        engine.dispose()
        raise _Unavailable(f"No audit log in {_shown(url)}: the broker creates it when it "
                           "first starts")
    return engine


@contextmanager
def _audit_log(args: argparse.Namespace) -> Iterator[AuditLog]:
    url = _url(args)
    engine = None
    try:
        engine = _engine(url)
        yield AuditLog(engine)
    except SQLAlchemyError as exc:
        raise _Unavailable(f"Cannot read the audit log in {_shown(url)}: {_reason(exc)}") \
            from None
    finally:
        if engine is not None:
            engine.dispose()


def _run(command: Any, args: argparse.Namespace) -> int:
    try:
        with _audit_log(args) as log:
            return command(log, args)
    except _Unavailable as exc:
        print(exc, file=sys.stderr)
        return 2


def _records(n: int) -> str:
    return f"{n} record" if n == 1 else f"{n} records"


def _verify(log: AuditLog, _args: argparse.Namespace) -> int:
    result = log.verify()
    if result.ok:
        print(f"OK: {_records(result.checked)}, hash chain intact")
        return 0
    print(f"FAIL: {result.problem} ({_records(result.checked)} verified before it)",
          file=sys.stderr)
    return 1


def _tail(log: AuditLog, args: argparse.Namespace) -> int:
    for record in log.tail(args.n):
        print(render(record))
    return 0


def verify(args: argparse.Namespace) -> int:
    """``assay audit verify``: 0 intact, 1 altered or missing records, 2 unreadable."""
    return _run(_verify, args)


def tail(args: argparse.Namespace) -> int:
    """``assay audit tail``: the last N records, one escaped line each."""
    return _run(_tail, args)


def _database_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--db", metavar="URL",
                        help="database URL (default: database.url of the admin config)")
    parser.add_argument("--config", help="admin YAML (default: $ASSAY_CONFIG or the shipped one)")


def register(sub: Any) -> None:
    """Add ``audit verify`` and ``audit tail`` to the ``assay`` subparsers ``sub``."""
    audit = sub.add_parser("audit", help="audit log commands",
                           description="Check and read the data broker's hash-chained audit log.")
    audit_sub = audit.add_subparsers(dest="action", metavar="ACTION", required=True)
    check = audit_sub.add_parser(
        "verify", help="check the hash chain",
        description="Recompute the audit log's hash chain. Print OK with the number of "
                    "records, or name the first altered or missing record and exit 1.")
    _database_options(check)
    check.set_defaults(func=verify)
    last = audit_sub.add_parser(
        "tail", help="show the last records",
        description="Print the last N audit records, one per line, control characters escaped.")
    last.add_argument("-n", type=_count, default=DEFAULT_TAIL, metavar="N",
                      help=f"how many records (default {DEFAULT_TAIL}, at most {MAX_LIMIT})")
    _database_options(last)
    last.set_defaults(func=tail)
