"""The runner on real notebooks (papermill + a real kernel), through ``LocalExecutor``:
parameters, failures, secrets by reference and redacted, progress, metrics, HTML."""

from __future__ import annotations

import json
import time
from pathlib import Path

import nbformat
import pytest

from assay.jobs.executors.base import RunResult
from assay.jobs.executors.local import LocalExecutor
from assay.jobs.redact import Redactor
from assay.jobs.runner import main
from jobrun import make_spec, wait, write_notebook

TOKEN = "Tk&n<\"9f2b'77>x"  # characters that HTML, repr and JSON each escape
PEM = "-----BEGIN KEY-----\nABCDEFGHIJKLMNOP\nQRSTUVWXYZ012345\n-----END KEY-----"
CORES = [b"9f2b", b"ABCDEFGHIJKLMNOP", b"QRSTUVWXYZ012345"]  # no form may survive

SECRET_CELLS = [
    "print(x * 2, label)",
    "print(token)\nprint(repr(token))\nimport json; print(json.dumps({'t': token}))",
    "from IPython.display import HTML, display\ndisplay(HTML('<b>' + token + '</b>'))",
    "import sys, traceback\ntry:\n    raise ValueError(token)\nexcept ValueError:\n"
    "    traceback.print_exc()",
    "print(key)\nprint(key.splitlines()[1])",
    "import assay.jobs\nassay.jobs.record('auc', 0.91)\nassay.jobs.record('loss.val', 3)\n"
    "print(assay.jobs.current_run())",
    "token",
]


@pytest.fixture(scope="module")
def secret_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[RunResult, Path]:
    tmp = tmp_path_factory.mktemp("secret")
    notebook = write_notebook(tmp / "in.ipynb", SECRET_CELLS,
                              "x = 1\nlabel = 'default'\ntoken = ''\nkey = ''")
    spec = make_spec(tmp, notebook, "secret",
                     parameters={"x": 21, "label": "given", "token": {"__secret__": "warehouse"},
                                 "key": {"__secret__": "deploy.key"}},
                     secrets={"warehouse": TOKEN, "deploy.key": PEM})
    executor = LocalExecutor(html=True)
    result = wait(executor, executor.start(spec))
    return result, spec.workdir


def outputs_text(nb: nbformat.NotebookNode) -> str:
    return json.dumps([cell.get("outputs", []) for cell in nb.cells])


def test_parameters_are_injected_and_the_run_succeeds(secret_run) -> None:
    result, workdir = secret_run
    assert result.status == "succeeded", result.error
    assert result.error is None
    nb = nbformat.read(result.outputs["notebook"], as_version=4)
    assert "42 given" in outputs_text(nb)
    injected = next(c for c in nb.cells if "injected-parameters" in c.metadata.get("tags", []))
    assert "x = 21" in injected.source
    assert 'token = __import__("os").environ["ASSAY_SECRET_WAREHOUSE"]' in injected.source
    assert 'key = __import__("os").environ["ASSAY_SECRET_DEPLOY_KEY"]' in injected.source
    assert result.cells_done == result.cells_total == len(SECRET_CELLS) + 2
    assert result.duration_s > 0
    assert set(result.outputs) == {"notebook", "html", "log"}
    assert all(p.is_file() and p.parent == workdir for p in result.outputs.values())


def test_secret_values_appear_in_no_artifact(secret_run) -> None:
    result, workdir = secret_run
    for path in workdir.iterdir():
        data = path.read_bytes()
        for core in CORES:
            assert core not in data, f"{core!r} leaked into {path.name}"
    nb = nbformat.read(result.outputs["notebook"], as_version=4)
    assert "[secret]" in outputs_text(nb)
    assert "[secret]" in result.outputs["html"].read_text()


def test_parameters_metadata_shows_secret_references(secret_run) -> None:
    result, workdir = secret_run
    nb = nbformat.read(result.outputs["notebook"], as_version=4)
    assert nb.metadata.papermill.parameters == {
        "x": 21, "label": "given", "token": "secret://warehouse", "key": "secret://deploy.key"}
    assert nb.metadata.papermill.output_path == str(workdir / "output.ipynb")
    spec = json.loads((workdir / "spec.json").read_text())
    assert spec["secrets"] == ["deploy.key", "warehouse"]
    assert spec["parameters"]["token"] == {"__secret__": "warehouse"}


def test_metrics_recorded_in_the_notebook_are_in_the_result(secret_run) -> None:
    result, workdir = secret_run
    assert [(m["name"], m["value"]) for m in result.metrics] == [("auc", 0.91),
                                                                 ("loss.val", 3.0)]
    nb = nbformat.read(result.outputs["notebook"], as_version=4)
    assert "{'run_id': 'secret-1', 'job_id': '7'}" in outputs_text(nb)
    stored = json.loads((workdir / "result.json").read_text())
    assert stored["metrics"] == result.metrics
    assert stored["outputs"]["notebook"] == "output.ipynb"  # relative to the folder


def test_the_log_tells_start_and_end_without_secrets(secret_run) -> None:
    _, workdir = secret_run
    log = (workdir / "run.log").read_text()
    assert "run secret-1 of job 7 by alice" in log
    assert '"token": "secret://warehouse"' in log
    assert "run succeeded" in log


def test_a_failing_cell_fails_the_run_and_the_output_shows_the_error(tmp_path: Path) -> None:
    notebook = write_notebook(tmp_path / "in.ipynb",
                              ["a = 1", "raise ValueError('boom 42')", "print('never')"])
    executor = LocalExecutor(html=True)
    result = wait(executor, executor.start(make_spec(tmp_path, notebook)))
    assert result.status == "failed"
    assert "ValueError: boom 42" in result.error
    assert result.cells_done == 2 and result.cells_total == 3
    nb = nbformat.read(result.outputs["notebook"], as_version=4)
    failing = next(c for c in nb.cells if c.cell_type == "code" and "boom" in c.source)
    assert failing.outputs[0]["output_type"] == "error"
    assert failing.outputs[0]["evalue"] == "boom 42"
    assert any("papermill-error-cell-tag" in c.metadata.get("tags", []) for c in nb.cells)
    assert "never" not in outputs_text(nb)
    assert "boom 42" in result.outputs["html"].read_text()
    assert "run failed: Cell 2 raised ValueError: boom 42" in result.outputs["log"].read_text()


def test_progress_increases_cell_by_cell_and_html_is_off_by_default(tmp_path: Path) -> None:
    cells = ["import time"] + ["time.sleep(0.4)"] * 5
    notebook = write_notebook(tmp_path / "in.ipynb", cells)
    executor = LocalExecutor()
    ref = executor.start(make_spec(tmp_path, notebook))
    seen = [executor.progress(ref)]
    while (result := executor.poll(ref)) is None:
        if executor.progress(ref) != seen[-1]:
            seen.append(executor.progress(ref))
        time.sleep(0.05)
    done = [d for d, _ in seen if d]
    assert done == sorted(done) and len(set(done)) >= 3, seen
    assert seen[-1] == (6, 6) and result.status == "succeeded"
    assert set(result.outputs) == {"notebook", "log"}
    assert not (tmp_path / "run" / "output.html").exists()


def test_a_missing_spec_gives_a_failed_result(tmp_path: Path) -> None:
    assert main([str(tmp_path)]) == 1
    result = json.loads((tmp_path / "result.json").read_text())
    assert result["status"] == "failed"
    assert "could not start" in result["error"]
    assert main([]) == 2


# -- pure parts --------------------------------------------------------------------


def test_the_translator_renders_secret_references_as_environment_lookups() -> None:
    from assay.jobs.runner import _secret_translator

    code = _secret_translator().codify({"n": 3, "t": {"__secret__": "db-pass"},
                                        "nested": {"k": {"__secret__": "a"}}})
    assert "n = 3" in code
    assert 't = __import__("os").environ["ASSAY_SECRET_DB_PASS"]' in code
    assert '"k": __import__("os").environ["ASSAY_SECRET_A"]' in code


def test_the_redactor_replaces_escaped_forms_and_lines() -> None:
    redactor = Redactor([TOKEN, PEM, ""])
    assert redactor.text(f"a {TOKEN} b") == "a [secret] b"
    assert redactor.text(repr(TOKEN)) == "'[secret]'"
    assert "9f2b" not in redactor.text(json.dumps(TOKEN))
    assert "9f2b" not in redactor.text("<b>Tk&amp;n&lt;&quot;9f2b&#x27;77&gt;x</b>")
    assert redactor.text("ABCDEFGHIJKLMNOP") == "[secret]"
    assert not Redactor([]) and Redactor([]).text("x") == "x"


def test_the_redactor_finds_values_split_over_notebook_lines() -> None:
    nb = nbformat.v4.new_notebook()
    cell = nbformat.v4.new_code_cell("print(key)")
    cell.outputs = [nbformat.v4.new_output("stream", name="stdout", text=PEM + "\n")]
    nb.cells.append(cell)
    raw = nbformat.writes(nb)
    assert "ABCDEFGHIJKLMNOP\\n" in raw  # stored as a list of lines
    clean = Redactor([PEM]).notebook_json(raw)
    assert "ABCDEFGH" not in clean and "[secret]" in clean
    assert nbformat.reads(clean, as_version=4).cells[0].outputs[0].text == "[secret]\n"
    assert Redactor(["absent-value"]).notebook_json(raw) is raw  # untouched: no parse


def test_html_can_be_rendered_later_from_the_stored_notebook(secret_run,
                                                            tmp_path: Path) -> None:
    from assay.jobs.runner import render_html

    result, _ = secret_run
    target = tmp_path / "later.html"
    render_html(result.outputs["notebook"], target)
    page = target.read_text()
    assert "42 given" in page and "[secret]" in page and "9f2b" not in page


def test_html_output_of_a_notebook_is_sanitised(tmp_path: Path) -> None:
    from assay.jobs.runner import render_html

    nb = nbformat.v4.new_notebook()
    cell = nbformat.v4.new_code_cell("show()")
    cell.outputs = [nbformat.v4.new_output(
        "display_data", data={"text/html": "<b>kept</b><script>alert('xss-1')</script>"})]
    nb.cells.append(cell)
    nbformat.write(nb, tmp_path / "out.ipynb")
    render_html(tmp_path / "out.ipynb", tmp_path / "out.html")
    page = (tmp_path / "out.html").read_text()
    assert "<b>kept</b>" in page and "<script>alert('xss-1')" not in page
