"""The notebook's parameters cell: declared names and types, and submitted values."""

from __future__ import annotations

import pytest

from assay.errors import InvalidParameters
from assay.jobs.params import (
    declared_parameters,
    for_run,
    from_text,
    notebook_parameters,
    secret_names,
    validate,
    validate_for_notebook,
)

CELL = """\
# defaults
alpha = 0.05
n_boot = 1000
label = "trial-042"
verbose = False
cohorts = ["a", "b"]
options = {"k": 1}
cutoff: float = 3
region: str | None = None
token = None
start = __import__("datetime").date.today()
weights = (1, 2)
"""


@pytest.fixture
def declared():
    return declared_parameters(CELL)


def test_types_come_from_literals_and_annotations(declared):
    kinds = {name: (p.type, p.nullable) for name, p in declared.items()}
    assert kinds == {
        "alpha": ("float", False), "n_boot": ("int", False), "label": ("str", False),
        "verbose": ("bool", False), "cohorts": ("list", False), "options": ("dict", False),
        "cutoff": ("float", False), "region": ("str", True), "token": ("any", True),
        "start": ("any", False), "weights": ("list", False)}
    assert declared["alpha"].default == 0.05
    assert declared["alpha"].source == "alpha = 0.05"


def test_valid_values_pass_unchanged(declared):
    submitted = {"alpha": 0.01, "n_boot": 10, "label": "x", "verbose": True,
                 "cohorts": ["c"], "options": {}, "cutoff": 2, "region": None,
                 "token": "secret://warehouse", "start": "2025-01-01", "weights": [3]}
    assert validate(submitted, declared) == submitted


def test_an_int_is_a_float_but_not_the_other_way(declared):
    assert validate({"alpha": 1}, declared) == {"alpha": 1}
    with pytest.raises(InvalidParameters) as err:
        validate({"n_boot": 1.5}, declared)
    assert err.value.user_message == (
        "Invalid parameters: n_boot: must be int (declared as `n_boot = 1000`), "
        "got 1.5 (float)")


BAD = [
    ({"alpah": 0.1}, "alpah: unknown parameter; the notebook's parameters cell declares: "
                     "alpha, n_boot, label, verbose, cohorts, options, cutoff, region, "
                     "token, start, weights"),
    ({"n_boot": "1000"}, "n_boot: must be int (declared as `n_boot = 1000`), got \"1000\" "
                         "(str)"),
    ({"n_boot": True}, "n_boot: must be int (declared as `n_boot = 1000`), got true (bool)"),
    ({"verbose": 1}, "verbose: must be bool (declared as `verbose = False`), got 1 (int)"),
    ({"alpha": "0.1"}, "alpha: must be float (declared as `alpha = 0.05`), got \"0.1\" (str)"),
    ({"alpha": float("nan")}, "alpha: must be JSON data (no NaN, infinity or non-text keys), "
                              "got nan"),
    ({"label": None}, "label: must be str (declared as `label = \"trial-042\"`), got None; "
                      "declare it `Optional` or with a None default to allow None"),
    ({"cohorts": "a,b"}, "cohorts: must be list (declared as `cohorts = [\"a\", \"b\"]`), "
                         "got \"a,b\" (str)"),
    ({"options": [1]}, "options: must be dict (declared as `options = {\"k\": 1}`), got [1] "
                       "(list)"),
    ({"region": 5}, "region: must be str or None (declared as `region: str | None = None`), "
                    "got 5 (int)"),
    ({"n_boot": "secret://db"}, "n_boot: a secret reference fits only a text parameter, but "
                                "'n_boot' is int (declared as `n_boot = 1000`)"),
    ({"label": "secret://no spaces"}, "label: secret reference 'secret://no spaces' must be "
                                      "secret://NAME with NAME 1-64 ASCII letters, digits, "
                                      "'_', '.' and '-', starting with a letter or digit"),
    ({"label": "secret://"}, "label: secret reference 'secret://' must be secret://NAME"),
    ({"options": {"k": float("inf")}}, "options: must be JSON data"),
]


@pytest.mark.parametrize(("submitted", "message"), BAD, ids=[str(b[0]) for b in BAD])
def test_bad_values_are_refused_with_a_clear_message(declared, submitted, message):
    with pytest.raises(InvalidParameters) as err:
        validate(submitted, declared)
    assert err.value.status_code == 400
    assert err.value.problems[0].startswith(message)
    assert err.value.body()["error"] == "invalid_parameters"


def test_every_problem_is_listed_at_once(declared):
    with pytest.raises(InvalidParameters) as err:
        validate({"x": 1, "y": 2, "n_boot": "many"}, declared)
    assert [p.split(":")[0] for p in err.value.problems] == ["x", "y", "n_boot"]


def test_parameters_must_be_a_mapping(declared):
    with pytest.raises(InvalidParameters, match="parameters: must be a mapping of names to "
                                                "values, got list"):
        validate(["alpha"], declared)  # type: ignore[arg-type]


def test_too_large_parameters(declared):
    with pytest.raises(InvalidParameters, match="at most 65536 bytes of JSON"):
        validate({"label": "x" * 70_000}, declared)


def test_a_notebook_without_parameters_cell_takes_none(make_notebook):
    notebook = make_notebook(None, "print(1)")
    assert notebook_parameters(notebook) is None
    assert validate_for_notebook({}, notebook) == {}
    with pytest.raises(InvalidParameters) as err:
        validate_for_notebook({"n": 1}, notebook)
    assert err.value.problems == [
        "parameters: the notebook has no cell tagged 'parameters', so it takes none; tag the "
        "cell that assigns the defaults with 'parameters' (papermill's convention)"]


@pytest.mark.parametrize(("notebook", "message"), [
    (b"not json", "notebook: not a Jupyter notebook (.ipynb JSON)"),
    (b'{"cells": 3}', "notebook: not a Jupyter notebook (no list of cells)"),
    (b"\xff\xfe", "notebook: not a Jupyter notebook (.ipynb JSON)"),
])
def test_a_notebook_that_is_not_one(notebook, message):
    with pytest.raises(InvalidParameters) as err:
        validate_for_notebook({}, notebook)
    assert err.value.problems == [message]


def test_a_parameters_cell_with_a_syntax_error(make_notebook):
    with pytest.raises(InvalidParameters) as err:
        validate_for_notebook({}, make_notebook("n = = 1"))
    assert err.value.problems == [
        "notebook: the parameters cell is not valid Python (line 1: invalid syntax)"]


def test_the_first_tagged_cell_counts_and_later_assignments_win(make_notebook):
    notebook = make_notebook("n = 1\nn = 'x'", "m = 2")
    assert {k: v.type for k, v in notebook_parameters(notebook).items()} == {"n": "str"}


def test_optional_and_any_annotations():
    declared = declared_parameters("from typing import Optional, Any\n"
                                   "a: Optional[int] = None\nb: Any = 1\nc: list[int] = []\n"
                                   "d: 'str' = 'x'\nx, y = 1, 2\nobj.attr = 3\n")
    assert {k: (v.type, v.nullable) for k, v in declared.items()} == {
        "a": ("int", True), "b": ("any", False), "c": ("list", False), "d": ("any", False)}


def test_secret_references_for_the_run():
    params = {"token": "secret://warehouse", "n": 1, "other": "secret://api-key"}
    assert secret_names(params) == ["api-key", "warehouse"]
    assert for_run(params) == {"token": {"__secret__": "warehouse"}, "n": 1,
                               "other": {"__secret__": "api-key"}}


def test_command_line_values_follow_the_declared_type(declared):
    assert from_text("5", declared["n_boot"]) == 5
    assert from_text("0.5", declared["alpha"]) == 0.5
    assert from_text("True", declared["verbose"]) is True
    assert from_text("5", declared["label"]) == "5"
    assert from_text('["x"]', declared["cohorts"]) == ["x"]
    assert from_text("secret://db", declared["token"]) == "secret://db"
    assert from_text("not json", declared["n_boot"]) == "not json"  # then refused by validate
