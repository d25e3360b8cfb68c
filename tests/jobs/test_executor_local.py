"""``LocalExecutor``: real runner processes — timeout, cancel, adoption by a new executor
in a new process, interrupted runs, recycled pids, the run's environment."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from assay.errors import ExecutorError
from assay.jobs.executors import LocalExecutor as Lazy
from assay.jobs.executors.local import LocalExecutor, alive, descendants, proc
from jobrun import kill_leftovers, make_spec, profile, wait, wait_for, write_notebook

SLEEPY = ["import time", "time.sleep(30)", "print('woke')"]


def family(ref: str) -> list[tuple[int, int]]:
    """(pid, start) of the runner and every descendant (the kernel among them)."""
    pid, start = (int(x) for x in ref.split(":")[:2])
    return [(pid, start)] + [(p.pid, p.start) for p in descendants(pid)]


def group_members(pgid: int) -> list[int]:
    members = []
    for entry in os.listdir("/proc"):
        found = proc(int(entry)) if entry.isdigit() else None
        if found is not None and found.pgid == pgid and found.state != "Z":
            members.append(found.pid)
    return members


@pytest.fixture
def started(tmp_path: Path):
    """``started(cells, **spec)`` → (executor, ref, spec); every process killed after."""
    refs: list[str] = []

    def start(cells: list[str], **overrides):
        notebook = write_notebook(tmp_path / "in.ipynb", cells)
        spec = make_spec(tmp_path, notebook, **overrides)
        executor = LocalExecutor(html=False)
        ref = executor.start(spec)
        refs.append(ref)
        return executor, ref, spec

    yield start
    for ref in refs:
        kill_leftovers([pid for pid, start in family(ref) if alive(pid, start)])


def running_kernel(executor: LocalExecutor, ref: str) -> list[tuple[int, int]]:
    """Wait until the sleep cell runs; the runner's family then includes the kernel."""
    wait_for(lambda: executor.progress(ref)[0] >= 1, 60, "first cell done")
    members = family(ref)
    assert len(members) >= 2, "no kernel process under the runner"
    return members


def test_the_executor_is_exported_lazily() -> None:
    assert Lazy is LocalExecutor


def test_a_run_past_its_timeout_is_killed_with_its_kernel(started) -> None:
    executor, ref, _ = started(SLEEPY, timeout_s=3)
    members = running_kernel(executor, ref)
    began = time.monotonic()
    result = wait(executor, ref, 30)
    assert result.status == "timed_out"
    assert "3 s" in result.error
    assert time.monotonic() - began < 8  # 3 s limit, noticed by the next poll, then killed
    assert result.duration_s >= 3
    assert not [m for m in members if alive(*m)]
    assert group_members(members[0][0]) == []
    assert executor.poll(ref) == result  # final and stable
    assert result.outputs["notebook"].is_file()  # what ran so far


def test_cancel_stops_the_run_and_records_cancelled(started) -> None:
    executor, ref, spec = started(SLEEPY)
    members = running_kernel(executor, ref)
    executor.cancel(ref)
    assert not [m for m in members if alive(*m)]
    result = executor.poll(ref)
    assert result is not None and result.status == "cancelled"
    assert result.cells_done == 1 and result.cells_total == 3
    executor.cancel(ref)  # again: nothing to do
    assert json.loads((spec.workdir / "result.json").read_text())["status"] == "cancelled"


def test_a_new_executor_in_a_new_process_adopts_the_run(started) -> None:
    _, ref, _ = started(["import time; time.sleep(1)", "print('done')"])
    code = ("import sys, json, time\n"
            "from assay.jobs.executors.local import LocalExecutor\n"
            "ex = LocalExecutor()\n"
            "while (r := ex.poll(sys.argv[1])) is None: time.sleep(0.05)\n"
            "print(json.dumps(r.to_json()))\n")
    out = subprocess.run([sys.executable, "-c", code, ref], capture_output=True, text=True,
                         timeout=120, check=True)
    result = json.loads(out.stdout)
    assert result["status"] == "succeeded"
    assert result["cells_done"] == result["cells_total"] == 2


def test_a_killed_runner_is_reported_interrupted(started) -> None:
    executor, ref, _ = started(SLEEPY)
    members = running_kernel(executor, ref)
    os.kill(members[0][0], signal.SIGKILL)
    result = wait(executor, ref, 10)
    assert result.status == "interrupted"
    assert result.cells_done == 1
    # the kernel notices its parent is gone and exits by itself
    wait_for(lambda: not [m for m in members if alive(*m)], 15, "kernel gone")


def test_a_recycled_pid_is_not_mistaken_for_the_run(tmp_path: Path) -> None:
    workdir = tmp_path / "run"
    workdir.mkdir()
    (workdir / "spec.json").write_text(json.dumps({"timeout_s": 1}))
    me = proc(os.getpid())
    ref = f"{os.getpid()}:{me.start + 1}:{workdir}"  # our pid, another start time
    executor = LocalExecutor()
    executor.cancel(ref)  # must not signal this test process
    assert json.loads((workdir / "result.json").read_text())["status"] == "cancelled"
    other = tmp_path / "other"
    other.mkdir()
    assert executor.poll(f"{os.getpid()}:{me.start + 1}:{other}").status == "interrupted"


@pytest.mark.parametrize("ref", ["", "12", "x:y:/tmp", "1:2:relative/path", None])
def test_bad_refs_are_refused(ref) -> None:
    with pytest.raises(ExecutorError, match="Unknown run reference"):
        LocalExecutor().poll(ref)


def test_spec_json_has_no_secret_or_environment_values(tmp_path: Path) -> None:
    notebook = write_notebook(tmp_path / "in.ipynb", ["1"])
    spec = make_spec(tmp_path, notebook, parameters={"t": {"__secret__": "db"}},
                     secrets={"db": "hunter2-hunter2"}, env={"ASSAY_SESSION_TOKEN": "tok-123456"})
    executor = LocalExecutor()
    ref = executor.start(spec)
    text = (spec.workdir / "spec.json").read_text()
    assert "hunter2" not in text and "tok-123456" not in text
    assert json.loads(text)["secrets"] == ["db"]
    assert wait(executor, ref).status == "succeeded"
    with pytest.raises(ExecutorError, match="fresh working folder"):
        executor.start(spec)


def test_the_run_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "service-only")
    spec = make_spec(tmp_path, tmp_path / "nb.ipynb", profile=profile(),
                     gpus=["GPU-a", "GPU-b"], secrets={"db.pass": "v"},
                     env={"ASSAY_SESSION_TOKEN": "tok", "ASSAY_BROKER_URL": "http://b/"})
    env = LocalExecutor().environment(spec)
    assert "AWS_SECRET_ACCESS_KEY" not in env
    assert env["PATH"] == os.environ["PATH"]
    assert env["CUDA_VISIBLE_DEVICES"] == "GPU-a,GPU-b"
    assert env["CPU_LIMIT"] == "2.0" and env["CPU_GUARANTEE"] == "0.5"
    assert env["MEM_LIMIT"] == str(2 * 1024**3) and env["MEM_GUARANTEE"] == str(1024**3)
    assert env["ASSAY_PROFILE"] == "cpu-small" and env["ASSAY_ZONE"] == "standard"
    assert env["ASSAY_RUN_ID"] == "run-1" and env["ASSAY_JOB_ID"] == "7"
    assert env["ASSAY_SECRET_DB_PASS"] == "v"
    assert env["ASSAY_SESSION_TOKEN"] == "tok"


def test_specs_that_would_leak_or_cannot_run_are_refused(tmp_path: Path) -> None:
    notebook = write_notebook(tmp_path / "in.ipynb", ["1"])
    executor = LocalExecutor()
    with pytest.raises(ExecutorError, match="not resolved: db"):
        executor.start(make_spec(tmp_path, notebook, parameters={"t": {"__secret__": "db"}}))
    with pytest.raises(ExecutorError, match="secret://db"):
        executor.start(make_spec(tmp_path, notebook, parameters={"t": "long-secret-value"},
                                 secrets={"db": "long-secret-value"}))
    with pytest.raises(ExecutorError, match="would share the variable"):
        executor.start(make_spec(tmp_path, notebook, secrets={"a-b": "1", "a_b": "2"}))
    with pytest.raises(ExecutorError, match="notebook"):
        executor.start(make_spec(tmp_path, tmp_path / "missing.ipynb"))
    assert not (tmp_path / "run" / "spec.json").exists()
