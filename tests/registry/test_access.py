"""Who may download a version and who may approve it: pure verdicts on the demo catalog."""

from __future__ import annotations

import pytest

from assay.broker.policy import Identity
from assay.config import parse
from assay.errors import InvalidModelRequest, SeparationOfDuties
from assay.registry.access import verdict
from assay.registry.aliases import check_alias, check_approver, is_protected
from hubfixtures import DEMO_YAML

TRIAL, OMICS = "trial-042-adverse-events", "omics-expression-atlas"
ALICE_SECURE = Identity("alice", frozenset({"oncology", "gpu-users"}), zone="secure")
ALICE_PLAIN = Identity("alice", frozenset({"oncology", "gpu-users"}))
BOB = Identity("bob", frozenset({"analytics"}), zone="standard")
ADMIN = Identity("admin", frozenset(), admin=True)


@pytest.fixture(scope="module")
def config():
    return parse(DEMO_YAML.read_text())


def judge(config, who, classification, inputs, **kw):
    return verdict(who, classification, inputs, config.data, config.profiles,
                   config.models.class_zones, **kw)


def test_download_needs_every_input_and_the_zone(config):
    assert judge(config, ALICE_SECURE, "restricted", [TRIAL, OMICS]).allowed
    plain = judge(config, ALICE_PLAIN, "restricted", [TRIAL])
    assert not plain.allowed and plain.reason == "zone"
    assert plain.missing == ["zone 'secure' (start a server on profile secure-cpu)"]
    bob = judge(config, BOB, "restricted", [TRIAL, OMICS])
    assert not bob.allowed and bob.dataset == TRIAL
    assert bob.missing == ["membership in group 'oncology'", "clearance for restricted data",
                           "zone 'secure' (start a server on profile secure-cpu)"]
    assert "the oncology data steward (alice)" in bob.ask
    assert "bob may not download x. Missing: membership" in bob.message("bob", "download x")


def test_a_raised_class_needs_clearance_even_without_restricted_inputs(config):
    assert judge(config, BOB, "internal", [OMICS]).allowed
    raised = judge(config, BOB, "confidential", [OMICS])
    assert raised.missing == ["clearance for confidential data"]
    assert raised.ask == "an Assay admin"


def test_approval_ignores_the_zone_but_not_entitlements(config):
    assert judge(config, ALICE_PLAIN, "restricted", [TRIAL], zone=False).allowed
    assert not judge(config, BOB, "restricted", [TRIAL], zone=False).allowed
    assert judge(config, BOB, "internal", [OMICS], zone=False).allowed
    assert not judge(config, ADMIN, "internal", [OMICS], zone=False).allowed  # public only


def test_an_input_gone_from_the_catalog_refuses(config):
    gone = judge(config, ALICE_SECURE, "internal", ["deleted-dataset"])
    assert not gone.allowed and "no longer in the catalog" in gone.missing[0]


def test_separation_of_duties_and_alias_names():
    check_approver("bob", "alice", "churn", 3)
    with pytest.raises(SeparationOfDuties) as caught:
        check_approver("alice", "alice", "churn", 3)
    assert caught.value.user_message == ("separation of duties: alice registered version 3 "
                                         "of churn; another person must approve")
    assert caught.value.status_code == 403
    assert check_alias("staging") == "staging"
    with pytest.raises(InvalidModelRequest, match="reserved"):
        check_alias("latest")
    with pytest.raises(InvalidModelRequest) as bad:
        check_alias("Prod")
    assert bad.value.field == "alias"
    assert is_protected("production", ["production"])
    assert not is_protected("staging", ["production"])
