"""``assay.models`` through the demo hub's real Assay service.

Registration runs in real kernels of alice's real server (``secure-cpu``, with a
purpose): the service computes lineage from what *that kernel* read through the broker.
The rest runs in this process holding the servers' session credentials (``as_user``):
tampering with the stored artifact, refusals, aliases and approval, access to a
restricted model. Calls from this process carry no kernel id, so their lineage is all
that the *session* read; registrations here use bob's session, which reads nothing.
"""

from __future__ import annotations

import hashlib
import json
import uuid
import warnings
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression

import assay.models
from assay.kernels.model_formats import ModelFormatWarning
from hubprocess import HubProcess
from labkernel import KernelError, UserServer

TRIAL, OMICS = "trial-042-adverse-events", "omics-expression-atlas"

TRAIN_OMICS = f"""
import json, assay.data, assay.models
from sklearn.linear_model import LogisticRegression
df = assay.data.read_parquet({OMICS!r}, "expression.parquet")
X, y = df[["liver", "lung", "brain"]], (df["skin"] > df["skin"].median()).astype(int)
clf = LogisticRegression().fit(X, y)
"""
TRAIN_TRIAL = f"""
import json, assay.data, assay.models
from sklearn.linear_model import LogisticRegression
df = assay.data.read_csv({TRIAL!r}, "adverse_events.csv")
clf = LogisticRegression().fit(df[["grade", "onset_day"]], df["serious"])
"""
REGISTER = """
v = assay.models.register(clf, {name!r}, metrics={{"auc": 0.91}}, description="test model",
                          input_example=X.head() if "X" in dir() else None)
print(json.dumps({{"version": v.version, "status": v.status, "class": v.classification,
                   "lineage": v.lineage, "url": v.url}}))
"""
TRY = """
try:
    {code}
except Exception as exc:
    print(json.dumps({{"error": type(exc).__name__, "message": str(exc),
                       "field": getattr(exc, "field", None)}}))
"""


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def stored(hub: HubProcess, name: str, version: int, path: str) -> Path:
    """The artifact file in the demo hub's local object store (``storage.url``)."""
    return hub.workdir / "var" / "objects" / "models" / name / str(version) / path


@pytest.fixture(scope="module")
def alice_kernels(demo_hub, server_envs) -> Iterator[UserServer]:
    """alice's server (started by ``server_envs``), to run notebooks' code in."""
    server = UserServer(demo_hub, "alice")
    yield server
    server.close()


@pytest.fixture(scope="module")
def omics_model(alice_kernels) -> dict:
    """Version 1 of a model trained in a kernel that read the omics atlas (internal)."""
    name = unique("omics-clf")
    kernel = alice_kernels.start_kernel(f"{name}.ipynb")
    answer = json.loads(alice_kernels.run(kernel, TRAIN_OMICS + REGISTER.format(name=name)))
    return {"name": name, "kernel": kernel, **answer}


def test_a_kernel_registers_with_the_lineage_of_what_it_read(omics_model, demo_hub):
    assert omics_model["version"] == 1 and omics_model["status"] == "ready"
    assert omics_model["class"] == "internal"
    assert omics_model["lineage"] == {"datasets": [{"name": OMICS,
                                                    "classification": "internal"}],
                                      "run": None}
    assert f"/services/assay/models/{omics_model['name']}" in omics_model["url"]
    assert stored(demo_hub, omics_model["name"], 1, "model.skops").is_file()


def test_the_version_records_who_where_what_and_every_hash(omics_model, as_user, demo_hub):
    env = as_user("alice")
    v = assay.models.get(omics_model["name"], 1)
    assert (v.registrant, v.flavor, v.description, v.metrics) == (
        "alice", "skops", "test model", {"auc": 0.91})
    assert v.notebook["path"].endswith(f"{omics_model['name']}.ipynb")
    assert v.notebook["kernel_session"] == omics_model["kernel"]
    assert v.environment["python"] and len(v.environment["packages_digest"]) == 64
    assert v.signature["inputs"]["features"] == ["liver", "lung", "brain"]
    assert v.signature["outputs"]["kind"] == "classifier"
    assert v.params["C"] == 1.0
    assert {f["path"] for f in v.files} == {"model.skops", "assay-model.json"}
    for item in v.files:
        data = stored(demo_hub, v.name, 1, item["path"]).read_bytes()
        assert item["sha256"] == hashlib.sha256(data).hexdigest()
        assert item["size"] == len(data)
    assert env["ASSAY_ZONE"] == "secure"
    assert assay.models.get(v.name).version == 1  # "latest"
    listed = {m["name"]: m for m in assay.models.list(q=v.name)}
    assert listed[v.name]["latest_version"] == 1


def test_load_checks_every_hash_then_gives_the_model_back(omics_model, as_user):
    as_user("alice")
    clf = assay.models.load(omics_model["name"], 1)
    assert isinstance(clf, LogisticRegression) and clf.n_features_in_ == 3


def test_a_tampered_artifact_is_refused_before_deserialising(omics_model, as_user,
                                                              demo_hub):
    as_user("bob")
    name = unique("tamper")
    assay.models.register(LogisticRegression().fit(np.eye(4), [0, 1, 0, 1]), name)
    target = stored(demo_hub, name, 1, "model.skops")
    original = target.read_bytes()
    target.write_bytes(original[:-1] + bytes([original[-1] ^ 0xFF]))
    with pytest.raises(assay.models.ModelIntegrityError) as caught:
        assay.models.load(name, 1)
    error = caught.value
    assert error.path == "model.skops" and error.expected != error.actual
    assert f"Artifact 'model.skops' does not match its registered hash: expected sha256 " \
        f"{error.expected}, got {error.actual}" in str(error)
    assert "nothing was deserialised" in str(error)
    target.write_bytes(original)
    assert isinstance(assay.models.load(name, 1), LogisticRegression)


def test_restricted_inputs_make_a_restricted_model_and_the_class_cannot_be_lowered(
        alice_kernels, as_user):
    name = unique("trial-clf")
    kernel = alice_kernels.start_kernel(f"{name}.ipynb")
    answer = json.loads(alice_kernels.run(kernel, TRAIN_TRIAL + REGISTER.format(name=name)))
    assert answer["class"] == "restricted"
    assert answer["lineage"]["datasets"] == [{"name": TRIAL, "classification": "restricted"}]
    lowered = TRY.format(code=f"assay.models.register(clf, {name!r}, classification='public')")
    refused = json.loads(alice_kernels.run(kernel, lowered))
    assert refused["error"] == "InvalidModelInput" and refused["field"] == "classification"
    assert "'public' is lower than 'restricted'" in refused["message"]
    assert TRIAL in refused["message"] and "cannot be lowered" in refused["message"]
    with pytest.raises(KernelError) as shown:  # as the notebook shows it: no HTTP frames
        alice_kernels.run(kernel, "assay.models.register(clf, 'Bad/Name')")
    assert shown.value.ename == "InvalidModelInput"
    [line] = shown.value.traceback
    assert "InvalidModelInput" in line and "name: 'Bad/Name'" in line and "httpx" not in line
    alice_kernels.stop_kernel(kernel)

    as_user("bob")  # no oncology group, no clearance, not in the secure zone
    with pytest.raises(assay.models.ModelAccessDenied) as caught:
        assay.models.load(name, 1)
    denied = caught.value
    assert isinstance(denied, PermissionError)
    assert "membership in group 'oncology'" in denied.missing
    assert "the oncology data steward (alice)" in denied.ask
    assert str(denied).startswith("bob may not")


def test_raising_the_class_is_allowed(as_user):
    as_user("bob")
    name = unique("raised")
    version = assay.models.register(LogisticRegression().fit(np.eye(4), [0, 1, 0, 1]), name,
                                    classification="confidential")
    assert version.classification == "confidential" and version.version == 1
    assert version.lineage == {"datasets": [], "run": None}
    again = assay.models.register(LogisticRegression().fit(np.eye(4), [1, 1, 0, 0]), name)
    assert again.version == 2


def test_unserialisable_objects_register_nothing(as_user):
    as_user("bob")
    name = unique("nothing")
    for obj in (lambda x: x, (i for i in range(3))):
        with pytest.raises(assay.models.ModelFormatError, match="Nothing was registered"):
            assay.models.register(obj, name)
    with pytest.raises(assay.models.ModelNotFound):
        assay.models.get(name)


@pytest.mark.parametrize(("name", "says"), [
    ("x" * 65, "65 characters"),
    ("Churn", "not a valid name"),
    ("chur\u043d", "CYRILLIC SMALL LETTER EN"),
    ("\uff43hurn", "FULLWIDTH LATIN SMALL LETTER C"),
    ("a/b", "'a/b'"),
    ("..", "'..'"),
    ("", "''"),
])
def test_bad_names_are_refused_naming_field_value_and_rule(as_user, name, says):
    as_user("bob")
    with pytest.raises(assay.models.InvalidModelInput) as caught:
        assay.models.register(LogisticRegression().fit(np.eye(4), [0, 1, 0, 1]), name)
    error = caught.value
    assert error.field == "name" and says in str(error)
    assert "lowercase ASCII letters, digits" in str(error)


def test_a_pickled_model_warns_when_stored_and_when_loaded(as_user):
    as_user("bob")
    name = unique("pickled")
    with pytest.warns(ModelFormatWarning, match="no safe format for builtins.dict"):
        version = assay.models.register({"threshold": 0.4}, name)
    assert version.flavor is None or version.flavor == "joblib"
    assert assay.models.get(name, 1).flavor == "joblib"
    with pytest.warns(ModelFormatWarning, match="only load models you trust"):
        assert assay.models.load(name) == {"threshold": 0.4}


def test_production_needs_another_person_staging_does_not(omics_model, as_user, audit):
    name = omics_model["name"]
    as_user("alice")
    before = audit.last_seq()
    staged = assay.models.set_alias(name, "staging", 1)
    assert assay.models.get(name, "staging").version == 1, staged
    pending = assay.models.set_alias(name, "production", 1)
    assert pending["status"] == "pending" and pending["requested_by"] == "alice"
    with pytest.raises(assay.models.ModelNotFound):
        assay.models.get(name, "production")
    with pytest.raises(assay.models.ModelAccessDenied) as refused:
        assay.models.approve(name, "production", 1)
    assert "separation of duties" in str(refused.value)
    assert "alice registered version 1" in str(refused.value)

    as_user("bob")  # may read the internal omics atlas
    approved = assay.models.approve(name, "production", 1)
    assert approved, approved
    assert assay.models.get(name, "production").version == 1
    assert "production" in assay.models.get(name, 1).aliases
    # the audit log's action column holds 16 characters: the service's short names
    actions = [(r["action"], r["user"], r["decision"]) for r in audit.records(before)
               if r["dataset"] == f"model:{name}"]
    assert ("model.alias.set", "alice", "allow") in actions  # staging
    assert ("model.alias.req", "alice", "allow") in actions  # production requested
    assert ("model.refuse", "alice", "deny") in actions  # her own approval refused
    assert ("model.approve", "bob", "allow") in actions


def test_downloads_and_registrations_are_audited(omics_model, as_user, audit):
    as_user("alice")
    before = audit.last_seq()
    assay.models.load(omics_model["name"], 1)
    as_user("bob")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assay.models.register([1, 2, 3], unique("audited"))
    actions = [(r["user"], r["action"], r["decision"]) for r in audit.records(before)]
    assert ("alice", "model.download", "allow") in actions
    assert ("bob", "model.register", "allow") in actions


def test_unknown_models_and_versions_are_not_found(as_user):
    as_user("alice")
    with pytest.raises(assay.models.ModelNotFound):
        assay.models.get(unique("missing"))
    with pytest.raises(assay.models.ModelNotFound):
        assay.models.load(unique("missing"), 3)
