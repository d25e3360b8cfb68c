"""``assay audit verify`` and ``assay audit tail`` (parser from ``assay.cli.audit.register``)."""

from __future__ import annotations

import argparse
import socket

import pytest
from sqlalchemy import delete, update

from assay.broker.audit import AuditLog
from assay.cli import audit as audit_cli
from assay.db import AuditRecord, make_engine, upgrade

INJECTED = "x.csv\r\n4 2025-01-01T00:00:00.000000Z allow read user=\"root\"\x1b[2K"


def parser() -> argparse.ArgumentParser:
    root = argparse.ArgumentParser(prog="assay")
    audit_cli.register(root.add_subparsers(dest="command", required=True))
    return root


@pytest.fixture
def cli(capsys):
    """``cli(*argv)`` → (exit code, stdout, stderr)."""

    def run(*argv: str) -> tuple[int, str, str]:
        args = parser().parse_args(list(argv))
        code = args.func(args)
        out, err = capsys.readouterr()
        return code, out, err

    return run


@pytest.fixture
def filled(db_engine) -> AuditLog:
    log = AuditLog(db_engine)
    log.append(user="alice", dataset="trials", path="a.csv", action="read", decision="allow",
               bytes=12)
    log.append(user="bob", dataset="trials", action="show", decision="deny",
               reason="missing group 'oncology'")
    log.append(user="eve", dataset="trials", path=INJECTED, action="read", decision="deny",
               reason="invalid path")
    return log


def test_verify_ok(cli, db_url, filled):
    assert cli("audit", "verify", "--db", db_url) == (
        0, "OK: 3 records, hash chain intact\n", "")


def test_verify_names_an_altered_record(cli, db_url, db_engine, filled):
    with db_engine.begin() as conn:
        conn.execute(update(AuditRecord).where(AuditRecord.seq == 2).values(decision="allow"))
    code, out, err = cli("audit", "verify", "--db", db_url)
    assert (code, out) == (1, "")
    assert err == ("FAIL: record 2 was altered: its hash does not match its contents "
                   "(1 record verified before it)\n")


def test_verify_names_a_deleted_last_record(cli, db_url, db_engine, filled):
    with db_engine.begin() as conn:
        conn.execute(delete(AuditRecord).where(AuditRecord.seq == 3))
    code, _, err = cli("audit", "verify", "--db", db_url)
    assert code == 1 and err.startswith("FAIL: record 3 is missing")


def test_verify_a_missing_sqlite_file_creates_nothing(cli, tmp_path):
    path = tmp_path / "nowhere" / "audit.sqlite"
    code, out, err = cli("audit", "verify", "--db", f"sqlite:///{path}")
    assert (code, out, err) == (2, "", f"No audit database at {path}\n")
    assert not path.parent.exists()


def test_verify_an_unmigrated_database(cli, tmp_path):
    path = tmp_path / "empty.sqlite"
    make_engine(f"sqlite:///{path}").dispose()
    path.touch()
    code, _, err = cli("audit", "verify", "--db", f"sqlite:///{path}")
    assert code == 2 and err.startswith(f"No audit log in {path}")


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_verify_an_unreachable_server_shows_no_password(cli):
    url = f"postgresql+psycopg://auditor:s3cret-pw@127.0.0.1:{closed_port()}/assay"
    code, out, err = cli("audit", "verify", "--db", url)
    assert code == 2 and out == ""
    assert err.startswith("Cannot read the audit log in postgresql+psycopg://auditor:***@")
    assert "s3cret-pw" not in err


def test_verify_not_a_url(cli):
    assert cli("audit", "verify", "--db", "not a url") == (
        2, "", "Not a database URL: 'not a url'\n")


def test_the_database_of_the_admin_config(cli, tmp_path, monkeypatch, demo_config_data,
                                          write_tmp_config):
    demo_config_data["database"] = {"url": "sqlite:///var/audit.sqlite"}
    config = write_tmp_config(demo_config_data)
    monkeypatch.setenv("ASSAY_CONFIG", str(config))
    monkeypatch.chdir(tmp_path)
    db_engine = make_engine("sqlite:///var/audit.sqlite")  # relative to the cwd
    upgrade(db_engine)
    AuditLog(db_engine).append(user="alice", action="list", decision="allow")
    db_engine.dispose()
    assert cli("audit", "verify") == (0, "OK: 1 record, hash chain intact\n", "")
    monkeypatch.delenv("ASSAY_CONFIG")
    assert cli("audit", "tail", "--config", str(config))[0] == 0


def test_an_invalid_admin_config(cli, write_tmp_config):
    config = write_tmp_config("mode: cloud\n")
    code, out, err = cli("audit", "verify", "--config", str(config))
    assert code == 2 and out == "" and "mode: must be one of" in err


def test_tail_prints_one_escaped_line_per_record(cli, db_url, filled):
    code, out, err = cli("audit", "tail", "--db", db_url)
    assert (code, err) == (0, "")
    lines = out.splitlines()
    assert len(lines) == 3 and out.count("\n") == 3
    assert [line.split(" ")[0] for line in lines] == ["1", "2", "3"]
    assert all(line.isprintable() for line in lines)
    assert "\r" not in out and "\x1b" not in out
    assert ('path="x.csv\\r\\n4 2025-01-01T00:00:00.000000Z allow read user=\\"root\\"'
            '\\x1b[2K"') in lines[2]
    assert 'reason="missing group \'oncology\'"' in lines[1]


def test_tail_n(cli, db_url, filled):
    code, out, _ = cli("audit", "tail", "-n", "2", "--db", db_url)
    assert code == 0 and [line.split(" ")[0] for line in out.splitlines()] == ["2", "3"]


def test_tail_of_an_empty_log(cli, db_url, db_engine):
    assert cli("audit", "tail", "--db", db_url) == (0, "", "")


@pytest.mark.parametrize("n", ["0", "-1", "1001", "ten"])
def test_tail_n_out_of_range(cli, capsys, n):
    with pytest.raises(SystemExit) as exit_:
        cli("audit", "tail", "-n", n, "--db", "sqlite://")
    assert exit_.value.code == 2
    assert "argument -n" in capsys.readouterr().err


def test_help(capsys):
    with pytest.raises(SystemExit):
        parser().parse_args(["audit", "--help"])
    out = capsys.readouterr().out
    assert "verify" in out and "tail" in out
    with pytest.raises(SystemExit):
        parser().parse_args(["audit", "tail", "--help"])
    out = capsys.readouterr().out
    assert "-n N" in out and "--db URL" in out and "--config CONFIG" in out
