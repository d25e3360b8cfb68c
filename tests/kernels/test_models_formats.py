"""The kernel side of the model registry without a hub: formats (skops, joblib, refusals),
signature, environment, git commit, name/metric checks, URL encoding, error mapping."""

from __future__ import annotations

import hashlib
import io
import json
import math
import re
import subprocess
import sys
import warnings
from importlib import metadata

import httpx
import numpy as np
import pandas as pd
import pytest
from sklearn.ensemble import RandomForestClassifier
from sklearn.linear_model import LinearRegression, LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import FunctionTransformer, StandardScaler

from assay.errors import (
    AssayError,
    InvalidModelInput,
    ModelAccessDenied,
    ModelConflict,
    ModelFormatError,
    ModelNotFound,
    ModelServiceError,
    ModelTooLarge,
)
from assay.kernels import model_formats as formats
from assay.kernels import models_meta as meta
from assay.kernels.models_client import refusal, segment

RNG = np.random.default_rng(42)


def training_data() -> tuple[pd.DataFrame, np.ndarray]:
    x = pd.DataFrame(RNG.normal(size=(80, 3)), columns=["age", "dose", "weight"])
    return x, (x["dose"] > 0).astype(int).to_numpy()


class Opaque:
    """Not an estimator: stored with joblib."""

    def __init__(self, value: int):
        self.value = value


# -- formats -----------------------------------------------------------------------------


def test_a_sklearn_pipeline_is_stored_with_skops_and_loads_back(tmp_path):
    x, y = training_data()
    model = make_pipeline(StandardScaler(), LogisticRegression()).fit(x, y)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no pickle warning for a safe format
        saved = formats.save(model, tmp_path)
    assert (saved.flavor, saved.files) == ("skops", ("model.skops", "assay-model.json"))
    assert saved.model_type == "sklearn.pipeline.Pipeline" and saved.warning is None
    manifest = json.loads((tmp_path / "assay-model.json").read_text())
    assert manifest["flavor"] == "skops" and "scikit-learn" in manifest["libraries"]
    loaded = formats.load(tmp_path, "skops")
    np.testing.assert_array_equal(loaded.predict(x), model.predict(x))


def test_sklearn_types_such_as_a_tree_need_no_trust(tmp_path):
    x, y = training_data()
    model = RandomForestClassifier(n_estimators=3, random_state=0).fit(x, y)
    assert formats.save(model, tmp_path).flavor == "skops"
    assert "sklearn.tree._tree.Tree" in json.loads(
        (tmp_path / "assay-model.json").read_text())["untrusted_types"]
    np.testing.assert_array_equal(formats.load(tmp_path, "skops").predict(x), model.predict(x))


def test_other_types_in_a_skops_file_must_be_trusted_explicitly(tmp_path):
    model = FunctionTransformer(func=math.sqrt)
    formats.save(model, tmp_path)
    with pytest.raises(ModelFormatError, match=r"outside scikit-learn.*math\.sqrt.*"
                       r"trust=\['math\.sqrt'\]"):
        formats.load(tmp_path, "skops")
    assert formats.load(tmp_path, "skops", trust=["math.sqrt"]).func is math.sqrt


def test_a_pipeline_holding_a_lambda_is_refused_and_nothing_is_left(tmp_path):
    model = FunctionTransformer(func=lambda v: v + 1)
    with pytest.raises(ModelFormatError) as caught:
        formats.save(model, tmp_path)
    message = str(caught.value)
    assert "Cannot store a sklearn.preprocessing._function_transformer.FunctionTransformer" \
        in message and "<lambda>" in message and "Nothing was registered." in message
    assert list(tmp_path.iterdir()) == []


def test_other_picklable_objects_use_joblib_with_a_visible_warning(tmp_path):
    with pytest.warns(formats.ModelFormatWarning) as caught:
        saved = formats.save({"weights": [1, 2, 3]}, tmp_path)
    assert saved.flavor == "joblib" and saved.files == ("model.joblib", "assay-model.json")
    assert str(caught[0].message) == (
        "no safe format for builtins.dict; stored with joblib (pickle): loading it runs "
        "code — only load models you trust")
    with pytest.warns(formats.ModelFormatWarning, match="runs code from the file"):
        assert formats.load(tmp_path, "joblib") == {"weights": [1, 2, 3]}


def test_an_object_of_a_notebook_class_is_stored_with_joblib(tmp_path):
    with pytest.warns(formats.ModelFormatWarning, match="no safe format for .*Opaque"):
        formats.save(Opaque(7), tmp_path)
    with pytest.warns(formats.ModelFormatWarning):
        assert formats.load(tmp_path, "joblib").value == 7


@pytest.mark.parametrize(("make", "kind"), [
    (lambda: (lambda v: v), "function"),
    (lambda: (i for i in range(3)), "generator"),
    (lambda: open(__file__), "TextIOWrapper"),  # noqa: SIM115 - closed by the GC
    (lambda: None, "NoneType"),
])
def test_unserialisable_objects_are_refused_naming_the_type(tmp_path, make, kind):
    obj = make()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", formats.ModelFormatWarning)
        with pytest.raises(ModelFormatError) as caught:
            formats.save(obj, tmp_path)
    message = str(caught.value)
    assert kind in message and "Supported: scikit-learn estimators and pipelines" in message
    assert isinstance(caught.value, TypeError) and isinstance(caught.value, AssayError)
    assert not (tmp_path / "model.joblib").exists()
    assert not (tmp_path / "assay-model.json").exists()
    if isinstance(obj, io.IOBase):
        obj.close()


def test_an_unknown_flavor_says_so(tmp_path):
    with pytest.raises(ModelFormatError, match="Unknown model flavor 'onnx'"):
        formats.load(tmp_path, "onnx")


def test_importing_the_formats_does_not_import_sklearn_or_torch():
    code = ("import sys, assay.models, assay.kernels.model_formats as f; "
            "print(f.flavor_of({}), 'sklearn' in sys.modules, 'torch' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, timeout=60).stdout
    assert out.split() == ["joblib", "False", "False"]


# -- signature, parameters, environment, git ------------------------------------------------


def test_signature_of_a_classifier_with_an_input_example():
    x, y = training_data()
    model = LogisticRegression().fit(x, y)
    sig = meta.signature(model, input_example=x)
    assert sig["inputs"] == {
        "n_features": 3, "features": ["age", "dose", "weight"],
        "columns": [{"name": c, "dtype": "float64"} for c in ("age", "dose", "weight")]}
    assert sig["outputs"] == {"kind": "classifier", "classes": [0, 1], "n_classes": 2,
                              "dtype": "int64", "shape": [None]}
    json.dumps(sig)  # JSON-safe (NumPy values converted)


def test_signature_of_a_regressor_on_arrays_and_of_other_objects():
    model = LinearRegression().fit(RNG.normal(size=(20, 4)), RNG.normal(size=20))
    assert meta.signature(model) == {"inputs": {"n_features": 4},
                                     "outputs": {"kind": "regressor"}}
    assert meta.signature({"weights": 1}) is None


def test_parameters_of_an_estimator_are_json_safe():
    params = meta.model_params(LogisticRegression(C=np.float64(0.5), max_iter=np.int64(50)))
    assert params["C"] == 0.5 and params["max_iter"] == 50
    json.dumps(params)
    assert meta.model_params(object()) == {}
    with pytest.raises(InvalidModelInput, match="params: .* bytes as JSON; at most 65536"):
        meta.check_params({"blob": "x" * 70_000})


def test_environment_is_python_and_a_digest_of_the_sorted_package_list():
    env = meta.environment({"scikit-learn": "1.0"})
    listed = meta.packages()
    assert listed == sorted(set(listed)) and any(p.startswith("scikit-learn==") for p in listed)
    assert listed == sorted({  # the same as importlib.metadata, without parsing METADATA
        f"{re.sub(r'[-_.]+', '-', d.metadata['Name']).lower()}=={d.version}"
        for d in metadata.distributions()})
    assert env["packages_digest"] == hashlib.sha256("\n".join(listed).encode()).hexdigest()
    assert env["python"] == ".".join(map(str, sys.version_info[:3]))
    assert env["packages"] == ["scikit-learn==1.0"]


def test_git_commit_of_the_notebooks_folder(tmp_path):
    repo = tmp_path / "repo"
    (repo / "notebooks").mkdir(parents=True)
    notebook = repo / "notebooks" / "train.ipynb"
    notebook.write_text("{}")
    git = ["git", "-C", str(repo), "-c", "user.name=t", "-c", "user.email=t@example.org"]
    subprocess.run([*git, "init", "-q"], check=True)
    subprocess.run([*git, "add", "."], check=True)
    subprocess.run([*git, "commit", "-qm", "x"], check=True)
    head = subprocess.run([*git, "rev-parse", "HEAD"], capture_output=True, text=True,
                          check=True).stdout.strip()
    assert meta.git_commit(notebook) == head
    outside = tmp_path / "loose"
    outside.mkdir()
    assert meta.git_commit(outside / "x.ipynb") is None
    assert meta.git_commit(None) is None and meta.git_commit(tmp_path / "gone" / "x") is None


def test_notebook_path_comes_from_jupyter_servers_variable():
    assert meta.notebook_path({"JPY_SESSION_NAME": "/home/a/x.ipynb"}) == "/home/a/x.ipynb"
    assert meta.notebook_path({}) is None


# -- names, metrics (advisory: the registry decides) -------------------------------------------


@pytest.mark.parametrize("name", ["churn", "a", "churn-v2.final_1", "9" * 64])
def test_valid_names(name):
    assert meta.name_problem(name) is None


@pytest.mark.parametrize(("name", "says"), [
    ("", "'' is not a valid name"),
    ("x" * 65, "'xxxxx"),
    ("Churn", "(lowercase only)"),
    ("chur\u043d", "CYRILLIC SMALL LETTER EN"),
    ("\uff43hurn", "FULLWIDTH LATIN SMALL LETTER C"),
    ("a/b", "'a/b'"),
    ("..", "'..'"),
    ("-churn", "'-churn'"),
    (3, "3 is not text"),
])
def test_invalid_names_say_field_value_and_rule(name, says):
    problem = meta.name_problem(name)
    assert problem.startswith("name: ") and says in problem
    assert "1-64 characters of lowercase ASCII letters" in problem
    assert len(problem) < 300  # the value is truncated
    with pytest.raises(InvalidModelInput) as caught:
        meta.check_name(name)
    assert caught.value.field == "name"


def test_metrics_from_text_and_their_checks():
    assert meta.parse_metrics("auc=0.91, f1=0.8;\nloss = 2") == {"auc": 0.91, "f1": 0.8,
                                                                  "loss": 2.0}
    assert meta.parse_metrics("  ") == {}
    for text, says in [("auc", "'auc' is not name=value"), ("auc=high", "not a number"),
                       ("auc=nan", "use a finite number"), ("=1", "not name=value")]:
        with pytest.raises(InvalidModelInput, match=says):
            meta.parse_metrics(text)
    assert meta.check_metrics({"auc": np.float32(0.5), "n": np.int64(3)}) == {"auc": 0.5,
                                                                               "n": 3.0}
    for bad in ({"ok": True}, {"x": "1"}, {"x": math.inf}, {f"m{i}": 1 for i in range(101)}):
        with pytest.raises(InvalidModelInput) as caught:
            meta.check_metrics(bad)
        assert caught.value.field == "metrics"
    with pytest.raises(InvalidModelInput, match="description: 2001 characters"):
        meta.check_description("x" * 2001)


# -- URLs and errors ------------------------------------------------------------------------


def test_names_are_sent_exactly_as_given_in_one_url_segment():
    assert segment("churn") == "churn"
    assert segment("a/b") == "a%2Fb" and segment("..") == "%2E%2E"
    assert segment("chur\u043d") == "chur%D0%BD" and segment(3) == "3"


def _answer(status: int, body: object) -> httpx.Response:
    return httpx.Response(status, json=body, request=httpx.Request("GET", "http://x/"))


def test_registry_errors_become_readable_exceptions_in_both_error_shapes():
    nested = refusal(_answer(400, {"error": {"message": "name: 'A' is not valid",
                                             "field": "name"}}))
    assert type(nested) is InvalidModelInput and isinstance(nested, ValueError)
    assert (str(nested), nested.field, nested.status) == ("name: 'A' is not valid", "name",
                                                          400)
    flat = refusal(_answer(403, {"error": "access_denied", "message": "bob may not read",
                                 "missing": ["membership in group 'oncology'"],
                                 "ask": "the oncology data steward (alice)"}))
    assert type(flat) is ModelAccessDenied and isinstance(flat, PermissionError)
    assert flat.missing == ["membership in group 'oncology'"]
    assert flat.ask == "the oncology data steward (alice)"
    assert isinstance(refusal(_answer(404, {})), ModelNotFound)
    assert isinstance(refusal(_answer(409, {})), ModelConflict)
    assert isinstance(refusal(_answer(413, {})), ModelTooLarge)
    odd = refusal(_answer(502, ["not", "an", "object"]))
    assert type(odd) is ModelServiceError and "answered 502" in str(odd)
    assert "Restart your server" in str(refusal(_answer(401, {"message": "expired"})))


def test_ipython_shows_the_message_without_http_frames():
    error = ModelFormatError("Cannot store a generator as a model")
    assert error._render_traceback_() == [
        "\x1b[0;31mModelFormatError\x1b[0m: Cannot store a generator as a model"]
