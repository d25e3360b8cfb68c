"""The registry's database side on SQLite and PostgreSQL: race-free version numbers,
commit checks, list/search, aliases and approvals, lineage from the audit log."""

from __future__ import annotations

import threading

import pytest
from registrydb import ready, register

from assay.broker.audit import AuditLog
from assay.broker.policy import Identity
from assay.config import parse
from assay.errors import RegistryConflict
from assay.registry import Registry
from assay.registry.lineage import lineage_of
from assay.registry.rules import Input
from hubfixtures import DEMO_YAML


@pytest.fixture
def registry(db_engine) -> Registry:
    return Registry.on(db_engine)


def test_versions_are_numbered_per_model_without_gaps_under_concurrency(registry):
    numbers: list[int] = []
    errors: list[BaseException] = []

    def worker() -> None:
        try:
            for _ in range(5):
                numbers.append(register(registry, "churn").version)
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert errors == []
    assert sorted(numbers) == list(range(1, 21))
    assert register(registry, "other").version == 1


def test_commit_checks_every_hash_and_keeps_the_version_pending(registry):
    version = register(registry, "churn")
    assert version.status == "pending" and version.files[0].sha256 is None
    with pytest.raises(RegistryConflict, match="never uploaded"):
        registry.models.commit(version.id, {"model.skops": "b" * 64})
    registry.models.record_upload(version.id, "model.skops", 3, "a" * 64)
    with pytest.raises(RegistryConflict) as caught:
        registry.models.commit(version.id, {"model.skops": "b" * 64})
    assert caught.value.extra == {"path": "model.skops", "declared": "b" * 64,
                                  "computed": "a" * 64}
    assert registry.models.version("churn", 1).status == "pending"
    assert registry.models.list_models()[1] == 0  # nothing ready: not listed
    done = registry.models.commit(version.id, {"model.skops": "a" * 64})
    assert done.status == "ready" and done.committed_at is not None
    with pytest.raises(RegistryConflict, match="already ready"):
        registry.models.commit(version.id, {"model.skops": "a" * 64})
    assert not registry.models.record_upload(version.id, "model.skops", 3, "c" * 64)


def test_latest_list_and_search(registry):
    ready(registry, "churn", description="Customer churn, gradient boosting")
    ready(registry, "churn", description="Churn v2 with 100% more features")
    ready(registry, "tumour-size", description="Regression on trial_042")
    register(registry, "pending-only")
    summary = registry.models.model("churn")
    assert (summary.latest_version, summary.versions) == (2, 2)
    assert "100%" in summary.description
    assert registry.models.version("churn", "latest").version == 2
    models, total = registry.models.list_models()
    assert total == 2 and {m.name for m in models} == {"churn", "tumour-size"}
    assert [m.name for m in registry.models.list_models("CHURN")[0]] == ["churn"]
    assert [m.name for m in registry.models.list_models("100%")[0]] == ["churn"]
    assert registry.models.list_models("1_0")[1] == 0  # '_' is no wildcard
    assert [m.name for m in registry.models.list_models("trial_042")[0]] == ["tumour-size"]
    assert len(registry.models.list_models(limit=1)[0]) == 1
    assert [v.version for v in registry.models.versions(summary.id)] == [2, 1]


def test_aliases_and_approvals(registry):
    ready(registry, "churn")
    ready(registry, "churn", who="bob")
    model = registry.models.model("churn")
    registry.aliases.set(model.id, "staging", 1, "alice")
    assert registry.models.model("churn").aliases == {"staging": 1}
    assert registry.models.version("churn", "staging").aliases == ["staging"]
    first = registry.aliases.request(model.id, "production", 1, "alice")
    second = registry.aliases.request(model.id, "production", 2, "bob")
    assert [a.id for a in registry.aliases.pending(model.id)] == [second.id]
    with pytest.raises(RegistryConflict):
        registry.aliases.approve(first, "carol")  # superseded
    approved = registry.aliases.approve(second, "alice")
    assert approved.status == "approved" and approved.decided_by == "alice"
    assert registry.models.model("churn").aliases == {"production": 2, "staging": 1}
    assert registry.aliases.pending(model.id) == []
    removal = registry.aliases.request(model.id, "production", None, "bob")
    registry.aliases.approve(removal, "alice")
    assert registry.aliases.current(model.id, "production") is None
    assert registry.aliases.delete(model.id, "staging")
    assert not registry.aliases.delete(model.id, "staging")


def test_lineage_is_per_kernel_and_per_run(db_engine):
    audit, config = AuditLog(db_engine), parse(DEMO_YAML.read_text())
    for kernel, dataset, action, decision in (
            ("k1", "omics-expression-atlas", "read", "allow"),
            ("k1", "reference-genes", "sign", "allow"),
            ("k1", "trial-042-adverse-events", "read", "deny"),
            ("k1", "reference-genes", "show", "allow"),
            ("k2", "trial-042-adverse-events", "read", "allow")):
        audit.append(session_id="s1", kernel_id=kernel, dataset=dataset, action=action,
                     decision=decision)
    audit.append(session_id="s2", kernel_id="", dataset="gone-dataset", action="read",
                 decision="allow")
    k1 = lineage_of(db_engine, Identity("alice", frozenset(), session_id="s1",
                                        kernel_id="k1"), config.data)
    assert k1.inputs == [Input("omics-expression-atlas", "internal"),
                         Input("reference-genes", "public")] and k1.run_id is None
    whole = lineage_of(db_engine, Identity("alice", frozenset(), session_id="s1"),
                       config.data)
    assert [i.dataset for i in whole.inputs][-1] == "trial-042-adverse-events"
    run = lineage_of(db_engine, Identity("alice", frozenset(), session_id="s2",
                                         kernel_id="k9", run_id=7), config.data)
    assert run.inputs == [Input("gone-dataset", "restricted")] and run.run_id == 7
    assert lineage_of(db_engine, Identity("alice", frozenset()), config.data).inputs == []
