"""What every executor is given (``RunSpec``), answers (``RunResult``) and implements.

A run's working folder holds everything about it, written by the executor or the
runner (``python -m assay.jobs.runner WORKDIR``):

=================  ==========  ====================================================
file               written by  what
=================  ==========  ====================================================
``spec.json``      executor    the run without secret values (:func:`spec_document`)
``progress.json``  runner      ``{"done": cells finished, "total": cells}``
``metrics.jsonl``  kernel      one JSON line per ``assay.jobs.record`` call
``output.ipynb``   runner      the executed notebook, secrets redacted at every save
``output.html``    runner      the same as HTML (if the executor turns HTML on)
``run.log``        runner      start, end, cell errors; secrets redacted
``runner.err``     runner      the runner's and kernel's stderr (diagnostics only)
``result.json``    either      the final :class:`RunResult`; written once, last
=================  ==========  ====================================================
"""

from __future__ import annotations

import json
import os
import re
import tempfile
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # the runner imports this module: no pydantic, no tornado at import
    from ...config.schema import Profile

SPEC_FILE = "spec.json"
PROGRESS_FILE = "progress.json"
METRICS_FILE = "metrics.jsonl"
RESULT_FILE = "result.json"
OUTPUT_NOTEBOOK = "output.ipynb"
OUTPUT_HTML = "output.html"
LOG_FILE = "run.log"
STDERR_FILE = "runner.err"
#: ``RunResult.outputs`` keys → file names (only the files that exist are listed).
OUTPUT_FILES = {"notebook": OUTPUT_NOTEBOOK, "html": OUTPUT_HTML, "log": LOG_FILE}

def executor_error(user_message: str, log_detail: str | None = None) -> Exception:
    """An ``assay.errors.ExecutorError`` (imported when needed: this module stays light)."""
    from ...errors import ExecutorError

    return ExecutorError(user_message, log_detail)


STATUSES = ("succeeded", "failed", "timed_out", "cancelled", "interrupted")
SECRET_KEY = "__secret__"
SECRET_ENV_PREFIX = "ASSAY_SECRET_"
CREDENTIAL_ENV = "ASSAY_SESSION_TOKEN"  # the run's broker credential (never inline)
OUTPUT_URL_ENV = "ASSAY_OUTPUT_URL"  # Kubernetes: where the runner uploads its files
S3_ENDPOINT_ENV = "ASSAY_S3_ENDPOINT_URL"
SECRET_NAME = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")


@dataclass(frozen=True)
class RunSpec:
    run_id: str
    job_id: str
    owner: str
    notebook: Path
    parameters: dict  # secret references as {"__secret__": name}
    secrets: dict[str, str]  # name → value; never written to disk by an executor
    env: dict[str, str]
    workdir: Path
    timeout_s: int | None
    profile: Profile
    gpus: list[str]
    image: str | None
    kernel_name: str = "python3"


@dataclass(frozen=True)
class RunResult:
    """The end of a run. ``outputs`` (``notebook``, ``html``, ``log``, those that exist):
    absolute file paths from ``LocalExecutor``; relative paths that are keys in the
    output store (``runs/<run_id>/…``) from ``KubernetesExecutor``."""

    status: str  # succeeded|failed|timed_out|cancelled|interrupted
    error: str | None
    cells_done: int
    cells_total: int
    duration_s: float
    outputs: dict[str, Path]
    metrics: list[dict] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {"status": self.status, "error": self.error, "cells_done": self.cells_done,
                "cells_total": self.cells_total, "duration_s": round(self.duration_s, 3),
                "outputs": {k: str(v) for k, v in self.outputs.items()},
                "metrics": list(self.metrics)}

    @classmethod
    def from_json(cls, data: dict[str, Any], base: Path | None = None) -> RunResult:
        """``outputs`` relative to ``base`` become paths under it."""
        outputs = {k: (base / v if base is not None else Path(v))
                   for k, v in dict(data.get("outputs") or {}).items()}
        status = str(data.get("status"))
        if status not in STATUSES:
            raise executor_error("The run's result could not be read.",
                                f"result status {status!r} is not one of {STATUSES}")
        return cls(status=status, error=data.get("error"),
                   cells_done=int(data.get("cells_done") or 0),
                   cells_total=int(data.get("cells_total") or 0),
                   duration_s=float(data.get("duration_s") or 0.0), outputs=outputs,
                   metrics=list(data.get("metrics") or []))


class Executor(ABC):
    """Runs notebooks somewhere. A ``ref`` is a string the scheduler stores with the
    run; a new executor instance (after a service restart) must accept it."""

    @abstractmethod
    def start(self, spec: RunSpec) -> str:
        """Start the run; return its ref."""

    @abstractmethod
    def poll(self, ref: str) -> RunResult | None:
        """``None`` while the run goes on, else its final result (the same every time)."""

    @abstractmethod
    def progress(self, ref: str) -> tuple[int, int]:
        """``(cells done, cells in all)``; ``(0, 0)`` before the notebook is loaded."""

    @abstractmethod
    def cancel(self, ref: str) -> None:
        """Stop the run; its result becomes ``cancelled`` unless it had finished."""

    @abstractmethod
    def find(self, run_id: str, workdir: str) -> str | None:
        """The ref of a run ``start`` launched but whose ref was never saved (the service
        died in between), or None if nothing was launched for ``run_id``."""


# -- secrets by reference ----------------------------------------------------------


def is_secret_ref(value: object) -> bool:
    """``{"__secret__": "name"}``: a parameter whose value is the named secret."""
    return (isinstance(value, dict) and len(value) == 1
            and isinstance(value.get(SECRET_KEY), str))


def secret_env(name: str) -> str:
    """The environment variable that carries secret ``name`` into the run."""
    if not isinstance(name, str) or not SECRET_NAME.match(name):
        raise executor_error(f"Invalid secret name {name!r}: use 1-64 ASCII letters, digits, "
                            "'_', '.' and '-'.")
    return SECRET_ENV_PREFIX + re.sub(r"[^A-Z0-9_]", "_", name.upper())


def secret_environment(secrets: dict[str, str]) -> dict[str, str]:
    """``{ASSAY_SECRET_<NAME>: value}``; two names sharing a variable are refused."""
    env: dict[str, str] = {}
    owners: dict[str, str] = {}
    for name, value in secrets.items():
        var = secret_env(name)
        if var in owners:
            raise executor_error(f"Secrets {owners[var]!r} and {name!r} would share the "
                                f"variable {var}; rename one.")
        if not isinstance(value, str):
            raise executor_error(f"Secret {name!r} has no text value.")
        owners[var], env[var] = name, value
    return env


def secret_refs(value: object) -> set[str]:
    """Names of the secrets that the parameters refer to (nested values included)."""
    if is_secret_ref(value):
        return {value[SECRET_KEY]}  # type: ignore[index]
    if isinstance(value, dict):
        return set().union(*(secret_refs(v) for v in value.values()))
    if isinstance(value, list):
        return set().union(*(secret_refs(v) for v in value))
    return set()


def shown_parameters(value: Any) -> Any:
    """Parameters as runs record them: secret references become ``secret://name``."""
    if is_secret_ref(value):
        return f"secret://{value[SECRET_KEY]}"
    if isinstance(value, dict):
        return {k: shown_parameters(v) for k, v in value.items()}
    if isinstance(value, list):
        return [shown_parameters(v) for v in value]
    return value


def check_spec(spec: RunSpec) -> None:
    """Refuse specs that could not run or would leak: missing secrets, bad names."""
    if not isinstance(spec.parameters, dict):
        raise executor_error("Parameters must be a mapping of names to values.")
    missing = sorted(secret_refs(spec.parameters) - set(spec.secrets))
    if missing:
        raise executor_error("The parameters refer to secrets that were not resolved: "
                            + ", ".join(missing))
    secret_environment(spec.secrets)
    if spec.timeout_s is not None and spec.timeout_s <= 0:
        raise executor_error(f"timeout_s must be a positive number of seconds or None, got "
                            f"{spec.timeout_s!r}.")


def spec_document(spec: RunSpec, notebook: str, *, html: bool = True) -> dict[str, Any]:
    """``spec.json``: what the runner needs. Secret *names* only, never values, and
    no environment (it carries the run's credential)."""
    return {
        "run_id": spec.run_id,
        "job_id": spec.job_id,
        "owner": spec.owner,
        "notebook": notebook,
        "parameters": spec.parameters,
        "secrets": sorted(spec.secrets),
        "timeout_s": spec.timeout_s,
        "kernel_name": spec.kernel_name,
        "profile": spec.profile.slug,
        "gpus": list(spec.gpus),
        "image": spec.image,
        "html": html,
    }


# -- small file helpers shared by the executors and the runner ---------------------


def write_json(path: Path, data: Any, *, exclusive: bool = False) -> bool:
    """Write ``data`` atomically (rename). ``exclusive``: only if ``path`` does not
    exist yet; returns ``False`` (and writes nothing) if it does."""
    path = Path(path)
    fd, tmp = tempfile.mkstemp(prefix="." + path.name, dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            json.dump(data, handle, indent=1)
        if not exclusive:
            os.replace(tmp, path)
            return True
        try:
            os.link(tmp, path)  # fails if a result is there already: first writer wins
        except FileExistsError:
            return False
        return True
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def read_json(path: Path) -> Any | None:
    """The JSON in ``path``, or ``None`` if it is missing or not (yet) valid."""
    try:
        return json.loads(Path(path).read_text(encoding="utf-8"))
    except (FileNotFoundError, NotADirectoryError, ValueError):
        return None


def read_progress(workdir: Path) -> tuple[int, int]:
    data = read_json(Path(workdir) / PROGRESS_FILE)
    if not isinstance(data, dict):
        return 0, 0
    try:
        return int(data.get("done", 0)), int(data.get("total", 0))
    except (TypeError, ValueError):
        return 0, 0


def output_key(run_id: str, name: str) -> str:
    """Object key of a run's file in the output store: ``runs/<run_id>/<name>``."""
    return f"runs/{run_id}/{name}"


def existing_outputs(workdir: Path) -> dict[str, Path]:
    return {key: Path(workdir) / name for key, name in OUTPUT_FILES.items()
            if (Path(workdir) / name).is_file()}
