"""Registrations never committed are removed after ``models.pending_hours`` (SQLite and
PostgreSQL): audited, numbers never reused, ready and younger versions untouched, and a
late commit or upload told plainly what happened."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from registrydb import ready, register

from assay.broker.audit import AuditLog
from assay.errors import RegistryConflict
from assay.objects import LocalObjects
from assay.registry import Registry
from assay.registry.expiry import expire_pending, interval
from assay.registry.rules import Input

LATER = timedelta(hours=25)


@pytest.fixture
def registry(db_engine) -> Registry:
    return Registry.on(db_engine)


async def test_a_stale_pending_version_is_removed_and_audited(registry, db_engine, tmp_path):
    audit = AuditLog(db_engine)
    objects = LocalObjects(tmp_path / "objects")
    kept = ready(registry, "churn")  # version 1, ready
    stale = register(registry, "churn", who="bob",
                     inputs=(Input("trial-042-safety", "internal"),))  # version 2
    for key in ("models/churn/1/model.skops", "models/churn/2/model.skops",
                "models/churn/20/model.skops"):
        objects.put(key, b"bytes")
    now = datetime.now(UTC) + LATER

    removed = await expire_pending(registry, audit, 24, objects, now=now)

    assert removed == [("churn", 2)]
    assert objects.list("models/") == ["models/churn/1/model.skops",
                                       "models/churn/20/model.skops"]
    assert registry.models.version_by_id(stale.id) is None
    assert registry.models.version_by_id(kept.id).status == "ready"
    [record] = audit.query(dataset="model:churn")
    assert (record["user"], record["action"], record["path"], record["decision"]) == (
        "assay", "model.expire", "versions/2", "allow")
    assert "bob" in record["reason"] and "24 h" in record["reason"]
    assert "1 uploaded file(s) removed" in record["reason"]
    assert register(registry, "churn").version == 3  # 2 is not handed out again
    assert audit.verify().ok


async def test_younger_pending_versions_stay(registry, db_engine):
    young = register(registry, "fresh")
    assert await expire_pending(registry, AuditLog(db_engine), 24) == []
    assert registry.models.version_by_id(young.id).status == "pending"


async def test_a_commit_after_removal_says_so(registry, db_engine):
    version = register(registry, "late")
    registry.models.record_upload(version.id, "model.skops", 3, "a" * 64)
    await expire_pending(registry, AuditLog(db_engine), 24,
                         now=datetime.now(UTC) + LATER)

    with pytest.raises(RegistryConflict, match="stayed pending longer than "
                                               "models.pending_hours. Register again"):
        registry.models.commit(version.id, {"model.skops": "a" * 64})


def test_passes_run_at_a_quarter_of_the_limit_between_a_second_and_ten_minutes():
    assert interval(24) == 600
    assert interval(0.002) == pytest.approx(1.8)
    assert interval(0.0001) == 1
