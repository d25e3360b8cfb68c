"""The hash-chained audit log on SQLite and PostgreSQL: appends, tampering, concurrency."""

from __future__ import annotations

import hashlib
import json
import os
import re
import signal
import threading
import time
from pathlib import Path

import pytest
from sqlalchemy import delete, insert, update

from assay.broker import audit
from assay.broker.audit import AuditLog, AuditUnavailable, record_hash, render
from assay.db import AuditHead, AuditRecord, make_engine

PER_PROCESS = 300
TIME = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$")


@pytest.fixture
def log(db_engine) -> AuditLog:
    return AuditLog(db_engine)


def fill(log: AuditLog, n: int, **fields) -> list[dict]:
    base = {"user": "alice", "server": "", "profile": "cpu-small", "zone": "default",
            "session_id": "0" * 32, "dataset": "trials", "path": "a.csv", "action": "read",
            "bytes": 10, "decision": "allow", "reason": ""}
    return [log.append(**{**base, **fields, "bytes": i}) for i in range(n)]


def tamper(engine, statement) -> None:
    """Change the tables behind the log's back, as someone with database access could."""
    with engine.begin() as conn:
        conn.execute(statement)


# -- appending -------------------------------------------------------------------------


def test_append_commits_a_chained_record(db_engine, db_url, log):
    records = fill(log, 3)
    assert [r["seq"] for r in records] == [1, 2, 3]
    assert records[0]["prev_hash"] == "0" * 64
    assert [r["prev_hash"] for r in records[1:]] == [r["hash"] for r in records[:-1]]
    assert all(TIME.match(r["time"]) for r in records)
    assert all(r["hash"] == record_hash(r) for r in records)
    fresh = make_engine(db_url)  # committed: visible to another engine at once
    assert AuditLog(fresh).query() == records
    fresh.dispose()


def test_hash_is_sha256_of_canonical_json(log):
    record = log.append(user="bob", action="list", decision="deny", reason="no clearance")
    body = {k: v for k, v in record.items() if k != "hash"}
    canonical = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    assert record["hash"] == hashlib.sha256(canonical.encode()).hexdigest()
    assert set(body) == {"seq", "time", "user", "server", "profile", "zone", "purpose",
                         "session_id", "kernel_id", "dataset", "path", "action", "bytes",
                         "decision", "reason", "prev_hash"}


@pytest.mark.parametrize(("fields", "error"), [
    ({"action": "read", "decision": "allow", "colour": "red"}, TypeError),
    ({"action": "read", "decision": "allow", "seq": 7}, TypeError),
    ({"action": "read", "decision": "allow", "hash": "0" * 64}, TypeError),
    ({"action": "read", "decision": "maybe"}, ValueError),
    ({"decision": "allow"}, ValueError),
    ({"action": "x" * 17, "decision": "allow"}, ValueError),
    ({"action": "read", "decision": "allow", "bytes": -1}, ValueError),
    ({"action": "read", "decision": "allow", "bytes": True}, ValueError),
    ({"action": "read", "decision": "allow", "user": 5}, TypeError),
])
def test_invalid_fields_are_refused_and_nothing_is_written(log, fields, error):
    with pytest.raises(error):
        log.append(**fields)
    assert log.verify() == audit.VerifyResult(True, 0)


def test_control_characters_are_stored_as_given(log):
    path = "a\r\nseq=99 allow read\x1b[2J\u2028\u202e.csv"
    record = log.append(action="read", decision="deny", path=path, reason="bad\tpath\x7f")
    stored = log.query()[0]
    assert stored["path"] == path and stored["reason"] == "bad\tpath\x7f"
    assert stored == record
    assert log.verify().ok


def test_nul_is_stored_as_the_symbol_for_null(log):
    record = log.append(action="read", decision="deny", path="a\x00b")
    assert record["path"] == "a\u2400b" == log.query()[0]["path"]
    assert log.verify().ok


def test_hostile_long_values_are_cut_not_refused(log):
    record = log.append(action="show", decision="deny", dataset="x" * 5000,
                        kernel_id="k" * 300, path="p" * 70000)
    assert len(record["dataset"]) == 255 and record["dataset"].endswith("\u2026")
    assert len(record["kernel_id"]) == 255
    assert len(record["path"]) == 70000
    assert log.query()[0] == record and log.verify().ok


# -- verification ----------------------------------------------------------------------


def test_verify_an_empty_and_a_filled_log(log):
    assert log.verify() == audit.VerifyResult(True, 0)
    fill(log, 25)
    assert log.verify() == audit.VerifyResult(True, 25)


def test_verify_walks_more_than_one_batch(log, monkeypatch):
    monkeypatch.setattr(audit, "BATCH", 4)
    fill(log, 10)
    assert log.verify() == audit.VerifyResult(True, 10)


@pytest.mark.parametrize(("column", "value"), [
    ("decision", "deny"), ("bytes", 10**12), ("user", "mallory"), ("path", "other.csv"),
    ("time", "2000-01-01T00:00:00.000000Z"), ("reason", "fine"), ("prev_hash", "1" * 64),
    ("hash", "2" * 64),
])
def test_an_altered_field_names_its_record(db_engine, log, column, value):
    fill(log, 5)
    tamper(db_engine, update(AuditRecord).where(AuditRecord.seq == 3).values({column: value}))
    result = log.verify()
    assert (result.ok, result.first_bad, result.checked) == (False, 3, 2)
    assert result.problem.startswith("record 3 ")


def test_an_altered_and_rehashed_record_breaks_the_link(db_engine, log):
    records = fill(log, 5)
    forged = {**records[2], "decision": "deny"}
    forged["hash"] = record_hash(forged)
    tamper(db_engine, update(AuditRecord).where(AuditRecord.seq == 3).values(forged))
    result = log.verify()
    assert (result.ok, result.first_bad) == (False, 4)
    assert "record 4 does not chain to record 3" in result.problem


def test_a_deleted_middle_record_is_named(db_engine, log):
    fill(log, 5)
    tamper(db_engine, delete(AuditRecord).where(AuditRecord.seq == 3))
    result = log.verify()
    assert (result.ok, result.first_bad, result.checked) == (False, 3, 2)
    assert result.problem == "record 3 is missing (the next record is 4)"


def test_deleted_records_at_the_start_are_named(db_engine, log):
    fill(log, 5)
    tamper(db_engine, delete(AuditRecord).where(AuditRecord.seq <= 2))
    result = log.verify()
    assert (result.first_bad, result.problem) == (1, "records 1-2 are missing "
                                                     "(the next record is 3)")


def test_a_deleted_last_record_is_caught_by_the_head(db_engine, log):
    fill(log, 5)
    tamper(db_engine, delete(AuditRecord).where(AuditRecord.seq == 5))
    result = log.verify()
    assert (result.ok, result.first_bad, result.checked) == (False, 5, 4)
    assert "record 5 is missing" in result.problem and "tail was deleted" in result.problem


def test_a_deleted_tail_of_several_records(db_engine, log):
    fill(log, 5)
    tamper(db_engine, delete(AuditRecord).where(AuditRecord.seq >= 3))
    result = log.verify()
    assert (result.first_bad, result.checked) == (3, 2)
    assert result.problem.startswith("records 3-5 are missing")


def test_deleting_everything_is_caught_by_the_head(db_engine, log):
    fill(log, 3)
    tamper(db_engine, delete(AuditRecord))
    assert log.verify().first_bad == 1


def test_a_record_added_behind_the_logs_back(db_engine, log):
    last = fill(log, 3)[-1]
    extra = {**last, "seq": 4, "prev_hash": last["hash"], "decision": "deny"}
    extra["hash"] = record_hash(extra)
    tamper(db_engine, insert(AuditRecord).values(extra))
    result = log.verify()
    assert (result.first_bad, result.checked) == (4, 4)
    assert "added outside the log" in result.problem


def test_a_replaced_last_record_does_not_match_the_head(db_engine, log):
    last = fill(log, 3)[-1]
    forged = {**last, "bytes": 0, "decision": "deny"}
    forged["hash"] = record_hash(forged)
    tamper(db_engine, update(AuditRecord).where(AuditRecord.seq == 3).values(forged))
    result = log.verify()
    assert result.first_bad == 3 and "does not match the chain head" in result.problem


def test_the_first_of_several_problems_is_reported(db_engine, log):
    fill(log, 6)
    tamper(db_engine, delete(AuditRecord).where(AuditRecord.seq == 5))
    tamper(db_engine, update(AuditRecord).where(AuditRecord.seq == 2).values(bytes=7))
    assert log.verify().first_bad == 2


def test_a_missing_head_stops_appends(db_engine, log):
    fill(log, 2)
    tamper(db_engine, delete(AuditHead))
    result = log.verify()
    assert not result.ok and "chain head" in result.problem
    with pytest.raises(AuditUnavailable) as caught:
        log.append(action="read", decision="allow")
    assert caught.value.status_code == 503 and "head" not in caught.value.user_message


# -- concurrency -----------------------------------------------------------------------


def test_concurrent_appends_from_threads(log):
    seqs: dict[int, list[int]] = {}

    def writer(index: int) -> None:
        seqs[index] = [log.append(user=f"t{index}", action="read", decision="allow")["seq"]
                       for _ in range(50)]

    threads = [threading.Thread(target=writer, args=(i,)) for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    assert len(seqs) == 8 and all(s == sorted(s) for s in seqs.values())
    assert sorted(s for each in seqs.values() for s in each) == list(range(1, 401))
    assert log.verify() == audit.VerifyResult(True, 400)
    assert [r["seq"] for r in log.tail(1000)] == list(range(1, 401))


def reported(path: Path) -> list[int]:
    """The seqs a writer reported: complete lines only."""
    if not path.exists():
        return []
    lines = path.read_text().split("\n")
    return [int(line) for line in lines[:-1]]


def test_concurrent_appends_from_two_processes(db_engine, db_url, log, spawn_writer, tmp_path):
    go, reports = tmp_path / "go", [tmp_path / "w0", tmp_path / "w1"]
    processes = [spawn_writer(db_url, PER_PROCESS, str(report), f"p{i}", str(go), 0.001)
                 for i, report in enumerate(reports)]
    wait_for(lambda: all(report.exists() for report in reports))
    go.touch()
    for process in processes:
        process.join(120)
        assert process.exitcode == 0
    seqs = [reported(report) for report in reports]
    assert sorted(seqs[0] + seqs[1]) == list(range(1, 2 * PER_PROCESS + 1))
    assert log.verify() == audit.VerifyResult(True, 2 * PER_PROCESS)
    switches = sum(1 for a, b in zip(seqs[0], seqs[0][1:], strict=False) if b != a + 1)
    assert switches > 0, "the two writers never interleaved"


def wait_for(condition, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.01)


def test_a_killed_writer_loses_no_returned_append(db_engine, db_url, log, spawn_writer,
                                                  tmp_path):
    report = tmp_path / "seqs"
    process = spawn_writer(db_url, 0, str(report), "victim")
    wait_for(lambda: len(reported(report)) >= 40)
    os.kill(process.pid, signal.SIGKILL)
    process.join(30)
    assert process.exitcode == -signal.SIGKILL
    returned = reported(report)
    stored = [r["seq"] for r in log.query(limit=1000)]
    assert set(returned) <= set(stored)
    assert stored == list(range(1, len(stored) + 1))
    assert len(stored) - len(returned) <= 1  # at most the append in flight at the kill
    assert log.verify() == audit.VerifyResult(True, len(stored))
    after = log.append(user="next", action="read", decision="allow")
    assert after["seq"] == len(stored) + 1 and log.verify().ok


# -- reading ---------------------------------------------------------------------------


def test_query_filters(log):
    log.append(user="alice", dataset="trials", action="read", decision="allow")
    log.append(user="bob", dataset="trials", action="read", decision="deny")
    log.append(user="alice", dataset="genomes", action="show", decision="deny")
    log.append(user="alice", dataset="trials", action="files", decision="allow")

    def seqs(**kwargs) -> list[int]:
        return [r["seq"] for r in log.query(**kwargs)]

    assert seqs() == [1, 2, 3, 4]
    assert seqs(user="alice") == [1, 3, 4]
    assert seqs(dataset="trials") == [1, 2, 4]
    assert seqs(decision="deny") == [2, 3]
    assert seqs(user="alice", dataset="trials", decision="allow") == [1, 4]
    assert seqs(after=2) == [3, 4]
    assert seqs(limit=2) == [1, 2]
    assert seqs(after=1, limit=1) == [2]
    assert seqs(user="nobody") == []
    assert seqs(limit=0) == []
    with pytest.raises(ValueError):
        log.query(decision="maybe")


def test_query_and_tail_limits_are_capped(log, monkeypatch):
    monkeypatch.setattr(audit, "MAX_LIMIT", 3)
    fill(log, 5)
    assert [r["seq"] for r in log.query(limit=10_000)] == [1, 2, 3]
    assert [r["seq"] for r in log.tail(10_000)] == [3, 4, 5]


def test_tail(log):
    assert log.tail(5) == []
    records = fill(log, 5)
    assert log.tail(2) == records[3:]
    assert log.tail(50) == records
    assert log.tail(0) == []


def test_render_escapes_every_control_character(log):
    record = log.append(user="eve", action="read", decision="deny",
                        path='x\r\n42 2025-01-01T00:00:00.000000Z allow read user="root"',
                        reason="\x1b[31mred\x1b[0m \u2028 \u202e \\n \x85")
    line = render(record)
    assert line.isprintable() and "\n" not in line and "\r" not in line
    assert 'path="x\\r\\n42 2025-01-01T00:00:00.000000Z allow read user=\\"root\\""' in line
    assert 'reason="\\x1b[31mred\\x1b[0m \\u2028 \\u202e \\\\n \\x85"' in line
    assert line.startswith(f"1 {record['time']} deny read user=\"eve\" server=- ")
