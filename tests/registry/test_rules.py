"""The registry's pure rules: names, request fields, classification inheritance."""

from __future__ import annotations

import pytest

from assay.errors import InvalidModelRequest, RegistryTooLarge
from assay.registry.rules import (
    DeclaredFile,
    Input,
    check_commit,
    check_metrics,
    check_name,
    check_registration,
    check_version_ref,
    inherit,
)

GIB = 1024**3
SHA = "a" * 64


def registration(**fields):
    body = {"flavor": "skops", "files": [{"path": "model.skops", "size": 10}], **fields}
    return check_registration(body, 2 * GIB, 8 * GIB)


@pytest.mark.parametrize("name", ["churn", "a", "churn-model_v2.1", "0", "a" * 64])
def test_good_names(name):
    assert check_name(name) == name


@pytest.mark.parametrize(("name", "words"), [
    ("", "is empty"),
    ("a" * 65, "65 characters long"),
    ("churn\u0430", "U+0430 (CYRILLIC SMALL LETTER A)"),  # Cyrillic 'а'
    ("\uff43hurn", "U+FF43"),  # fullwidth 'c': NFKC would turn it into 'c'
    ("../x", "is not a valid name"),
    ("a/b", "is not a valid name"),
    ("..", "is not a valid name"),
    ("Churn", "is not a valid name"),
    ("churn\n", "is not a valid name"),  # '$' would match before a final newline
    ("-churn", "is not a valid name"),
])
def test_bad_names_name_the_field_value_and_rule(name, words):
    with pytest.raises(InvalidModelRequest) as caught:
        check_name(name)
    body = caught.value.body()
    assert body["field"] == "name" and words in body["message"]
    assert body["value"].startswith("'") and len(body["value"]) < 90
    assert "1-64 lowercase ASCII letters" in body["rule"]


def test_alias_and_version_references():
    assert check_version_ref("3") == 3
    assert check_version_ref("latest") == "latest"
    assert check_version_ref("production") == "production"
    with pytest.raises(InvalidModelRequest, match="version"):
        check_version_ref("Prod")
    with pytest.raises(InvalidModelRequest, match="out of range"):
        check_version_ref("0")


def test_registration_is_strict():
    reg = registration(description="d", metrics={"auc": 0.9, "n": 3}, params={"C": 1.0},
                       git_commit="abc1234", notebook={"path": "w/a.ipynb",
                                                       "kernel_session": "k"})
    assert reg.files == [DeclaredFile("model.skops", 10)] and reg.metrics["n"] == 3
    with pytest.raises(InvalidModelRequest) as caught:
        registration(owner="mallory")
    assert caught.value.field == "owner"
    with pytest.raises(InvalidModelRequest, match="flavor"):
        registration(flavor="onnx")
    with pytest.raises(InvalidModelRequest, match="at most 2000"):
        registration(description="x" * 2001)
    with pytest.raises(InvalidModelRequest, match="git_commit"):
        registration(git_commit="HEAD")


@pytest.mark.parametrize("metrics", [{"auc": float("nan")}, {"auc": float("inf")},
                                     {"auc": "0.9"}, {"auc": True}, {"": 1},
                                     {f"m{i}": i for i in range(101)}, [1, 2]])
def test_bad_metrics(metrics):
    with pytest.raises(InvalidModelRequest) as caught:
        check_metrics(metrics)
    assert caught.value.field.startswith("metrics")


def test_params_are_limited_to_64_kib():
    registration(params={"x": "a" * 60_000})
    with pytest.raises(InvalidModelRequest, match="KiB"):
        registration(params={"x": "a" * 70_000})
    with pytest.raises(InvalidModelRequest, match="params"):
        registration(params=[1])


@pytest.mark.parametrize("path", ["../x", "/etc/passwd", ".hidden", "a//b", "a\\b", "",
                                  "é.bin"])
def test_bad_file_paths(path):
    with pytest.raises(InvalidModelRequest) as caught:
        registration(files=[{"path": path, "size": 1}])
    assert caught.value.field == "files.path"


def test_file_size_limits_are_413():
    with pytest.raises(RegistryTooLarge, match="per file"):
        registration(files=[{"path": "a", "size": 2 * GIB + 1}])
    with pytest.raises(RegistryTooLarge, match="per version"):
        registration(files=[{"path": f"f{i}", "size": 2 * GIB} for i in range(5)])
    with pytest.raises(InvalidModelRequest, match="twice"):
        registration(files=[{"path": "a", "size": 1}, {"path": "a", "size": 1}])
    with pytest.raises(InvalidModelRequest, match="files"):
        registration(files=[])


def test_commit_names_exactly_the_declared_files():
    assert check_commit({"files": {"a": SHA}}, ["a"]) == {"a": SHA}
    with pytest.raises(InvalidModelRequest, match="was not declared"):
        check_commit({"files": {"a": SHA, "b": SHA}}, ["a"])
    with pytest.raises(InvalidModelRequest, match="has no sha256"):
        check_commit({"files": {}}, ["a"])
    with pytest.raises(InvalidModelRequest, match="hex"):
        check_commit({"files": {"a": "A" * 64}}, ["a"])


def test_class_is_the_highest_input_and_cannot_be_lowered():
    inputs = [Input("omics", "internal"), Input("trial", "restricted")]
    assert inherit(inputs, None) == "restricted"
    assert inherit(inputs, "restricted") == "restricted"
    assert inherit([], None) == "internal"
    assert inherit([Input("genes", "public")], None) == "public"
    assert inherit([Input("omics", "internal")], "confidential") == "confidential"
    with pytest.raises(InvalidModelRequest) as caught:
        inherit([Input("omics", "internal"), Input("x", "confidential")], "public")
    assert caught.value.user_message == (
        "classification 'public' is lower than 'confidential' inherited from dataset 'x'; "
        "a version's class cannot be lowered.")
    assert caught.value.field == "classification"
    with pytest.raises(InvalidModelRequest, match="no recorded inputs"):
        inherit([], "public")
