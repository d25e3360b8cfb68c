"""The access decision over a generated matrix of users × datasets × profiles × actions,
checked against an independent statement of the rule (hypothesis, 10,000+ cases)."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from assay.broker.policy import Identity, clearance, decide
from assay.config.catalog import DataCatalog, Dataset
from assay.config.schema import Profile

LEVELS = ["public", "internal", "confidential", "restricted"]
GROUPS = ["oncology", "analytics", "gpu-users", "omics", "legal"]
PROFILES = [
    Profile(slug="cpu-small", display_name="CPU", cpu={"limit": 1}, memory={"limit": "1G"}),
    Profile(slug="secure-cpu", display_name="Secure", cpu={"limit": 1},
            memory={"limit": "1G"}, zone="secure", groups=["oncology"]),
]
ACTIONS = ["read", "files", "sign", "show"]

datasets = st.builds(
    lambda cls, groups, zone: Dataset(name="ds", classification=cls, location="ds",
                                      groups=groups, zone=zone, approver="the steward"),
    st.sampled_from(LEVELS), st.lists(st.sampled_from(GROUPS), unique=True, max_size=2),
    st.sampled_from([None, "standard", "secure"]))
catalogs = st.builds(
    lambda default, clearances: DataCatalog(default_clearance=default, clearances=clearances),
    st.sampled_from(LEVELS[:2]),
    st.dictionaries(st.sampled_from(GROUPS), st.sampled_from(LEVELS), max_size=5))
identities = st.builds(
    lambda groups, profile: Identity(
        user="u", groups=frozenset(groups),
        zone=None if profile is None else profile.zone,
        profile=None if profile is None else profile.slug),
    st.sets(st.sampled_from(GROUPS), max_size=3),
    st.sampled_from([None, *PROFILES]))  # None: a plain hub token, no server, no zone


def oracle(who: Identity, ds: Dataset, catalog: DataCatalog) -> bool:
    """The rule as the issue states it, written independently of the implementation."""
    level = LEVELS.index(catalog.default_clearance)
    for group in who.groups:
        if group in catalog.clearances:
            level = max(level, LEVELS.index(catalog.clearances[group]))
    cleared = level >= LEVELS.index(ds.classification)
    member = not ds.groups or any(g in who.groups for g in ds.groups)
    zoned = ds.zone is None or who.zone == ds.zone
    return cleared and member and zoned


@settings(max_examples=12_000, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.too_slow])
@given(who=identities, ds=datasets, catalog=catalogs, action=st.sampled_from(ACTIONS))
def test_decision_matrix(who, ds, catalog, action):
    decision = decide(who, ds, catalog, PROFILES)
    expected = oracle(who, ds, catalog)
    assert decision.allowed == expected, (action, who, ds, catalog)
    if not expected:
        assert decision.missing and decision.ask == "the steward"
        assert "Ask the steward" in decision.message
        assert decision.reason in ("group", "clearance", "zone")


def test_denial_names_every_missing_entitlement_and_the_profile_to_use():
    ds = Dataset(name="trial", classification="restricted", location="t",
                 groups=["oncology"], zone="secure", approver="the oncology data steward")
    catalog = DataCatalog(clearances={"oncology": "restricted", "analytics": "internal"})
    decision = decide(Identity(user="bob", groups=frozenset({"analytics"})), ds, catalog,
                      PROFILES)
    assert decision.missing == [
        "membership in group 'oncology'", "clearance for restricted data",
        "zone 'secure' (start a server on profile secure-cpu)"]
    assert decision.message.endswith("Ask the oncology data steward for access.")


def test_clearance_is_the_highest_of_the_groups():
    catalog = DataCatalog(default_clearance="public",
                          clearances={"a": "internal", "b": "confidential"})
    assert clearance(catalog, {"a", "b"}) == "confidential"
    assert clearance(catalog, set()) == "public"
