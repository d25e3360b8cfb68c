"""Runs as subprocesses of the Assay service: ``python -m assay.jobs.runner WORKDIR``.

Every run is its own session (``start_new_session``); the kernel papermill starts is
in another one (jupyter_client does that), so stopping a run signals the process
group of the runner *and* of each of its descendants, found through ``/proc``.

The ref is ``"<pid>:<start time>:<workdir>"`` — the start time (clock ticks since
boot, from ``/proc/<pid>/stat``) tells a recycled pid from the runner — and the run's
state lives in its working folder, so a new ``LocalExecutor`` in a new process (the
service restarted) polls, times out and cancels runs it did not start.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from ...kernels.jobs import JOB_ID_ENV, RUN_ID_ENV, read_metrics_file
from .base import (
    LOG_FILE,
    METRICS_FILE,
    RESULT_FILE,
    SPEC_FILE,
    STDERR_FILE,
    Executor,
    RunResult,
    RunSpec,
    check_spec,
    executor_error,
    existing_outputs,
    read_json,
    read_progress,
    secret_environment,
    spec_document,
    write_json,
)

#: What a run inherits from the service's environment; everything else is set per run.
INHERITED = ("PATH", "HOME", "LANG", "LANGUAGE", "LC_ALL", "LC_CTYPE", "TZ", "TMPDIR",
             "USER", "LOGNAME", "PYTHONPATH", "SSL_CERT_FILE", "SSL_CERT_DIR",
             "JUPYTER_PATH", "JUPYTER_DATA_DIR", "JUPYTER_CONFIG_DIR", "JUPYTER_RUNTIME_DIR")
_TICKS = os.sysconf("SC_CLK_TCK")
CANCEL_MARK = "cancel.requested"


@dataclass(frozen=True)
class Proc:
    pid: int
    state: str
    ppid: int
    pgid: int
    start: int  # clock ticks after boot


def proc(pid: int) -> Proc | None:
    """``/proc/<pid>/stat`` (None if there is no such process)."""
    try:
        data = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        return None
    fields = data[data.rindex(")") + 2:].split()
    return Proc(pid, fields[0], int(fields[1]), int(fields[2]), int(fields[19]))


def alive(pid: int, start: int) -> bool:
    """The process ``pid`` started at ``start`` runs (zombies do not)."""
    found = proc(pid)
    return found is not None and found.start == start and found.state not in ("Z", "X")


def descendants(pid: int) -> list[Proc]:
    """Every live descendant of ``pid``."""
    children: dict[int, list[Proc]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            found = proc(int(entry))
            if found is not None:
                children.setdefault(found.ppid, []).append(found)
    out: list[Proc] = []
    pending = [pid]
    while pending:
        for child in children.get(pending.pop(), []):
            out.append(child)
            pending.append(child.pid)
    return out


def _runner_of(workdir: Path) -> Proc | None:
    """The live runner process (``python -m assay.jobs.runner <workdir>``) of a run folder."""
    wanted = ["-m", "assay.jobs.runner", str(workdir)]
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            args = Path(f"/proc/{entry}/cmdline").read_bytes().decode(errors="replace")
        except OSError:
            continue
        if args.rstrip("\0").split("\0")[-3:] == wanted:
            found = proc(int(entry))
            if found is not None and alive(found.pid, found.start):
                return found
    return None


def seconds_since(start: int) -> float:
    """Seconds since a process started (``start`` in clock ticks after boot)."""
    uptime = float(Path("/proc/uptime").read_text().split()[0])
    return max(0.0, uptime - start / _TICKS)


def _signal_groups(groups: set[int], sig: int) -> None:
    for group in groups:
        try:
            os.killpg(group, sig)
        except (ProcessLookupError, PermissionError):
            pass


class LocalExecutor(Executor):
    """``html``: also export ``output.html`` in the run. Off by default: it costs
    ≈0.5-0.6 s of CPU a run (≈+25 % on a trivial notebook); render it on request from
    the stored notebook instead (``assay.jobs.runner.render_html``, ≈50 ms in a warm
    process). ``python``: the interpreter that runs the runner (default: this one)."""

    def __init__(self, *, html: bool = False, python: str | None = None,
                 kill_grace_s: float = 3.0):
        self.html = html
        self.python = python or sys.executable
        self.kill_grace_s = kill_grace_s
        self._children: dict[int, subprocess.Popen] = {}

    # -- start ----------------------------------------------------------------------

    def environment(self, spec: RunSpec) -> dict[str, str]:
        """The runner's (and kernel's) environment: little inherited, the rest per run."""
        from ...config.schema import memory_bytes
        from ...spawners.objects import environment as profile_environment

        profile = spec.profile
        env = {k: os.environ[k] for k in INHERITED if k in os.environ}
        env.update(profile_environment(profile))
        env["CPU_LIMIT"] = str(float(profile.cpu.limit))
        env["MEM_LIMIT"] = str(memory_bytes(profile.memory.limit))
        if profile.cpu.guarantee is not None:
            env["CPU_GUARANTEE"] = str(float(profile.cpu.guarantee))
        if profile.memory.guarantee:
            env["MEM_GUARANTEE"] = str(memory_bytes(profile.memory.guarantee))
        env["CUDA_VISIBLE_DEVICES"] = ",".join(spec.gpus)
        env.update(spec.env)
        env[RUN_ID_ENV], env[JOB_ID_ENV] = spec.run_id, spec.job_id
        env.update(secret_environment(spec.secrets))
        return env

    def start(self, spec: RunSpec) -> str:
        check_spec(spec)
        workdir = Path(spec.workdir).resolve()
        notebook = Path(spec.notebook).resolve()
        if not notebook.is_file():
            raise executor_error(f"The notebook {spec.notebook} of run {spec.run_id} is "
                                 "missing.")
        workdir.mkdir(parents=True, exist_ok=True)
        if (workdir / SPEC_FILE).exists() or (workdir / RESULT_FILE).exists():
            raise executor_error("Each run needs a fresh working folder.",
                                 f"{workdir} holds an earlier run")
        document = spec_document(spec, str(notebook), html=self.html)
        _refuse_inline_secrets(document, spec.secrets)
        write_json(workdir / SPEC_FILE, document)
        env = self.environment(spec)
        with open(workdir / STDERR_FILE, "ab") as err:
            child = subprocess.Popen(
                [self.python, "-m", "assay.jobs.runner", str(workdir)], cwd=workdir,
                env=env, stdin=subprocess.DEVNULL, stdout=err, stderr=subprocess.STDOUT,
                start_new_session=True, close_fds=True)
        found = proc(child.pid)  # not waited for yet: at worst a zombie, still listed
        if found is None:
            raise executor_error("The run could not be started.", f"pid {child.pid} vanished")
        self._children[child.pid] = child
        return f"{child.pid}:{found.start}:{workdir}"

    # -- follow ---------------------------------------------------------------------

    def _parse(self, ref: str) -> tuple[int, int, Path]:
        try:
            pid, start, folder = ref.split(":", 2)
            workdir = Path(folder)
            if not workdir.is_absolute():
                raise ValueError(folder)
            return int(pid), int(start), workdir
        except (AttributeError, ValueError):
            raise executor_error("Unknown run reference.", f"bad local ref {ref!r}") from None

    def _alive(self, pid: int, start: int) -> bool:
        child = self._children.get(pid)
        if child is not None and child.poll() is not None:  # reap our own child
            self._children.pop(pid, None)
        return alive(pid, start)

    def poll(self, ref: str) -> RunResult | None:
        pid, start, workdir = self._parse(ref)
        result = _result(workdir)
        if result is not None:
            return result
        if self._alive(pid, start):
            spec = read_json(workdir / SPEC_FILE) or {}
            timeout = spec.get("timeout_s")
            elapsed = seconds_since(start)
            if not timeout or elapsed <= timeout:
                return None
            self._kill(pid, start)
            return _conclude(workdir, "timed_out",
                             f"The run exceeded its time limit of {timeout} s.", elapsed)
        if (workdir / CANCEL_MARK).exists():  # cancel() is still reaping the kernel
            return _result(workdir) or _conclude(workdir, "cancelled",
                                                 "The run was cancelled.", _file_span(workdir))
        return _result(workdir) or _conclude(
            workdir, "interrupted", "The run stopped without a result: its process was "
            "killed or the machine restarted.", _file_span(workdir))

    def progress(self, ref: str) -> tuple[int, int]:
        return read_progress(self._parse(ref)[2])

    def cancel(self, ref: str) -> None:
        pid, start, workdir = self._parse(ref)
        if _result(workdir) is not None:
            return
        elapsed = seconds_since(start) if self._alive(pid, start) else _file_span(workdir)
        (workdir / CANCEL_MARK).touch()  # a concurrent poll() must not call this interrupted
        self._kill(pid, start)
        _conclude(workdir, "cancelled", "The run was cancelled.", elapsed)

    def find(self, run_id: str, workdir: str) -> str | None:
        folder = Path(workdir).resolve() if workdir else None
        if folder is None or not (folder / SPEC_FILE).exists():
            return None  # start() never got as far as writing the run's spec
        runner = _runner_of(folder)
        if runner is not None:
            return f"{runner.pid}:{runner.start}:{folder}"
        return f"0:0:{folder}"  # launched and gone: poll() gives its result or interrupted

    def _kill(self, pid: int, start: int) -> None:
        """SIGTERM the runner's group and its descendants' groups, then SIGKILL."""
        if not self._alive(pid, start):
            return
        family = [p for p in [proc(pid), *descendants(pid)] if p is not None]
        own = os.getpgid(0)
        groups = {p.pgid for p in family if p.pgid not in (own, 0)}
        _signal_groups(groups, signal.SIGTERM)
        if not self._wait_gone(family, self.kill_grace_s):
            family = [p for p in family if alive(p.pid, p.start)]
            # descendants started since the first look are in these groups too
            _signal_groups(groups | {p.pgid for p in family if p.pgid != own},
                           signal.SIGKILL)
            self._wait_gone(family, 5.0)

    def _wait_gone(self, family: list[Proc], timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while True:
            for p in family:
                self._alive(p.pid, p.start)  # reaps our own child
            if not any(alive(p.pid, p.start) for p in family):
                return True
            if time.monotonic() >= deadline:
                return False
            time.sleep(0.05)


def _result(workdir: Path) -> RunResult | None:
    data = read_json(workdir / RESULT_FILE)
    return RunResult.from_json(data, workdir) if isinstance(data, dict) else None


def _conclude(workdir: Path, status: str, error: str, duration: float) -> RunResult:
    """Record the executor's verdict, unless the runner wrote its result first."""
    if _result(workdir) is not None:
        return _result(workdir)  # type: ignore[return-value]
    log_file = workdir / LOG_FILE
    if log_file.is_file():
        with open(log_file, "a", encoding="utf-8") as handle:
            stamp = time.strftime("%Y-%m-%d %H:%M:%S")
            handle.write(f"{stamp} ERROR {status} (executor): {error}\n")
    done, total = read_progress(workdir)
    outputs = existing_outputs(workdir)
    result = RunResult(status, error, done, total, duration,
                       {k: Path(p.name) for k, p in outputs.items()},
                       read_metrics_file(workdir / METRICS_FILE))
    write_json(workdir / RESULT_FILE, result.to_json(), exclusive=True)
    return _result(workdir) or result


def _file_span(workdir: Path) -> float:
    """From the spec to the last file written: the duration of a run that vanished."""
    try:
        begin = (workdir / SPEC_FILE).stat().st_mtime
        end = max(p.stat().st_mtime for p in workdir.iterdir())
    except (OSError, ValueError):
        return 0.0
    return max(0.0, end - begin)


def _refuse_inline_secrets(document: dict, secrets: dict[str, str]) -> None:
    """A parameter holding a secret's value (instead of ``secret://name``) is refused."""
    import json

    text = json.dumps(document, ensure_ascii=False)
    for name, value in secrets.items():
        if len(value) >= 8 and value in text:
            raise executor_error(f"A parameter contains the value of secret {name!r}; pass "
                                 f"it as secret://{name} instead.")
