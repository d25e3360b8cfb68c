"""One run: ``python -m assay.jobs.runner WORKDIR`` (see ``executors.base`` for the files).

Reads ``WORKDIR/spec.json``, runs the notebook with papermill's Python API and writes
the progress, the output notebook (and HTML), the log and finally ``result.json``.

Secrets by reference: a parameter ``{"__secret__": "name"}`` is rendered by a custom
papermill translator as ``x = __import__("os").environ["ASSAY_SECRET_NAME"]``, so the
value never enters the notebook; the value itself comes from the environment the
executor set. Any printed occurrence is replaced by ``[secret]`` in every artifact:
the output notebook goes through a papermill I/O handler that redacts *every* save
(a run killed halfway leaves no secret behind), the log through a redacting
formatter, the HTML is made from the redacted notebook and scrubbed again.

Start-up is kept light (papermill is imported when the notebook runs; nothing else
heavy): a run costs what the ``papermill`` CLI costs, or a little less. The HTML
export (``"html": true`` in the spec) is extra: ≈0.5-0.6 s of CPU (nbconvert import
and template compilation, done in a background thread while the kernel starts, which
only helps when a core is free); :func:`render_html` makes it later on request.
Kubernetes mode: with ``ASSAY_OUTPUT_URL`` set the files are also uploaded there.
"""

from __future__ import annotations

import json
import logging
import os
import signal
import sys
import threading
import time
from pathlib import Path
from typing import Any

from ..kernels.jobs import JOB_ID_ENV, METRICS_FILE_ENV, RUN_ID_ENV, read_metrics_file
from .executors.base import (
    LOG_FILE,
    METRICS_FILE,
    OUTPUT_HTML,
    OUTPUT_NOTEBOOK,
    OUTPUT_URL_ENV,
    PROGRESS_FILE,
    RESULT_FILE,
    S3_ENDPOINT_ENV,
    SECRET_KEY,
    SPEC_FILE,
    STDERR_FILE,
    RunResult,
    existing_outputs,
    is_secret_ref,
    read_json,
    read_progress,
    secret_env,
    shown_parameters,
    write_json,
)
from .redact import Redactor

SCHEME = "assay-redacted:"  # papermill I/O handler prefix for the output notebook
WATCHDOG_GRACE_S = 10  # the executor enforces the timeout; this is the backstop
MAX_ERROR = 2000
log = logging.getLogger("assay.jobs.run")


class _Formatter(logging.Formatter):
    def __init__(self, redactor: Redactor):
        super().__init__("%(asctime)s %(levelname)s %(message)s")
        self.redactor = redactor

    def format(self, record: logging.LogRecord) -> str:
        return self.redactor.text(super().format(record))


def _short(value: Any, limit: int = 500) -> str:
    text = json.dumps(value, ensure_ascii=False, default=str)
    return text if len(text) <= limit else text[:limit] + f"… ({len(text)} characters)"


class Run:
    """The state of one run inside the runner process."""

    def __init__(self, workdir: Path):
        self.workdir = workdir
        self.started = time.monotonic()
        self.spec: dict[str, Any] = {}
        self.redactor = Redactor(())
        self.output = workdir / OUTPUT_NOTEBOOK
        self.uploader: _Uploader | None = None

    # -- files --------------------------------------------------------------------

    def progress(self, done: int, total: int) -> None:
        write_json(self.workdir / PROGRESS_FILE, {"done": done, "total": total})
        if self.uploader is not None:
            self.uploader.put(PROGRESS_FILE, self.workdir, throttle=True)

    def finish(self, status: str, error: str | None) -> int:
        done, total = read_progress(self.workdir)
        for handler in list(log.handlers):
            log.removeHandler(handler)
            handler.close()
        self.redactor.file(self.output, notebook=True)  # saved redacted; this is a backstop
        for path in (self.workdir / OUTPUT_HTML, self.workdir / LOG_FILE,
                     self.workdir / STDERR_FILE):
            self.redactor.file(path)
        outputs = {k: Path(p.name) for k, p in existing_outputs(self.workdir).items()}
        error = self.redactor.text(error)[:MAX_ERROR] if error else None
        result = RunResult(status, error, done, total, time.monotonic() - self.started,
                           outputs, read_metrics_file(self.workdir / METRICS_FILE))
        written = write_json(self.workdir / RESULT_FILE, result.to_json(), exclusive=True)
        if written and self.uploader is not None:
            names = [p.name for p in outputs.values()] + [PROGRESS_FILE, RESULT_FILE]
            names = [name for name in names if (self.workdir / name).is_file()]
            if not all(self.uploader.put(name, self.workdir) for name in names):
                return 1
        return 0 if status == "succeeded" else 1

    # -- set-up -------------------------------------------------------------------

    def prepare(self) -> None:
        """Read the spec and the secret values; set up the log and the environment."""
        spec = read_json(self.workdir / SPEC_FILE)
        if not isinstance(spec, dict):
            raise RuntimeError(f"no readable {SPEC_FILE} in the run folder")
        self.spec = spec
        values = []
        for name in spec.get("secrets") or []:
            value = os.environ.get(secret_env(name))
            if value is None:
                raise RuntimeError(f"secret {name!r} was not passed to the runner")
            values.append(value)
        self.redactor = Redactor(values)
        for stale in list(log.handlers):  # a second run in this process (tests)
            log.removeHandler(stale)
        handler = logging.FileHandler(self.workdir / LOG_FILE, encoding="utf-8")
        handler.setFormatter(_Formatter(self.redactor))
        log.addHandler(handler)
        log.setLevel(logging.INFO)
        log.propagate = False
        os.environ[METRICS_FILE_ENV] = str(self.workdir / METRICS_FILE)
        os.environ[RUN_ID_ENV] = str(spec.get("run_id", ""))
        os.environ[JOB_ID_ENV] = str(spec.get("job_id", ""))

    def notebook(self) -> Path:
        path = Path(str(self.spec["notebook"]))
        return path if path.is_absolute() else self.workdir / path

    # -- papermill ----------------------------------------------------------------

    def execute(self) -> None:
        """Run the notebook; raises papermill's exception when a cell fails."""
        import papermill
        from papermill.engines import papermill_engines
        from papermill.iorw import papermill_io
        from papermill.translators import papermill_translators

        papermill_translators.register("python", _secret_translator())
        papermill_engines.register("assay", _engine(self))
        papermill_io.register(SCHEME, _RedactingIO(self.redactor))
        warm = _HtmlWarmer() if self.spec.get("html") else None
        parameters = self.spec.get("parameters") or {}
        log.info("run %s of job %s by %s: notebook %s, kernel %s, parameters %s",
                 self.spec.get("run_id"), self.spec.get("job_id"), self.spec.get("owner"),
                 self.notebook().name, self.spec.get("kernel_name"),
                 _short(shown_parameters(parameters)))
        try:
            papermill.execute_notebook(
                _literal(str(self.notebook())), _literal(SCHEME + str(self.output)),
                parameters=parameters, engine_name="assay",
                kernel_name=self.spec.get("kernel_name") or "python3",
                request_save_on_cell_execute=True, progress_bar=False, log_output=False,
                cwd=str(self.workdir), coalesce_streams=True)
        finally:
            if warm is not None:
                self.write_html(warm)

    def write_html(self, warm: _HtmlWarmer) -> None:
        if not self.output.is_file():
            return
        started = time.monotonic()
        try:
            render_html(self.output, self.workdir / OUTPUT_HTML, self.redactor, warm.wait())
        except Exception as exc:  # a missing HTML view must not fail the run
            log.warning("HTML export failed: %s: %s", type(exc).__name__, exc)
            return
        log.info("HTML written in %.2f s", time.monotonic() - started)


def _literal(path: str) -> str:
    """papermill formats paths with the parameters: keep braces literal."""
    return path.replace("{", "{{").replace("}", "}}")


def _secret_translator() -> type:
    from papermill.translators import PythonTranslator

    class SecretPythonTranslator(PythonTranslator):
        """Secret references become an environment lookup, never a literal."""

        @classmethod
        def translate(cls, val: Any) -> str:
            if is_secret_ref(val):
                return f'__import__("os").environ["{secret_env(val[SECRET_KEY])}"]'
            return super().translate(val)

    return SecretPythonTranslator


def _engine(run: Run) -> type:
    from papermill.engines import NBClientEngine

    class AssayEngine(NBClientEngine):
        """papermill's nbclient engine + progress file + parameters shown as references."""

        @classmethod
        def execute_notebook(cls, nb: Any, kernel_name: str, **kwargs: Any) -> Any:
            meta = nb.metadata.papermill
            meta["parameters"] = shown_parameters(dict(meta.get("parameters") or {}))
            meta["output_path"] = str(run.output)
            run.progress(0, len(nb.cells))
            return super().execute_notebook(nb, kernel_name, **kwargs)

        @classmethod
        def execute_managed_notebook(cls, nb_man: Any, kernel_name: str, **kwargs: Any) -> Any:
            complete = nb_man.cell_complete

            def cell_complete(cell: Any, cell_index: int | None = None, **kw: Any) -> None:
                complete(cell, cell_index=cell_index, **kw)
                if cell_index is not None:
                    run.progress(cell_index + 1, len(nb_man.nb.cells))
                    if cell.metadata.get("papermill", {}).get("status") == "failed":
                        log.error("cell %d failed", cell_index + 1)

            nb_man.cell_complete = cell_complete
            return super().execute_managed_notebook(nb_man, kernel_name, **kwargs)

    return AssayEngine


class _RedactingIO:
    """papermill I/O for ``assay-redacted:<path>``: every save redacted, atomic."""

    def __init__(self, redactor: Redactor):
        self.redactor = redactor

    def read(self, path: str) -> str:
        return Path(path.removeprefix(SCHEME)).read_text(encoding="utf-8")

    def write(self, buf: str, path: str) -> None:
        target = Path(path.removeprefix(SCHEME))
        tmp = target.with_name("." + target.name + ".tmp")
        tmp.write_text(self.redactor.notebook_json(buf), encoding="utf-8")
        os.replace(tmp, target)

    def listdir(self, path: str) -> list[str]:
        return os.listdir(path.removeprefix(SCHEME))

    def pretty_path(self, path: str) -> str:
        return path.removeprefix(SCHEME)


class _Uploader:
    """Kubernetes mode: the run's files go to ``$ASSAY_OUTPUT_URL`` (the pod's folder
    vanishes with it); progress at most every few seconds."""

    def __init__(self, url: str):
        from ..objects import open_objects

        region = os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION")
        self.store = open_objects(url, base=Path("."), region=region or "us-east-1",
                                  endpoint_url=os.environ.get(S3_ENDPOINT_ENV) or None)
        self.last = 0.0

    def put(self, name: str, workdir: Path, *, throttle: bool = False) -> bool:
        if throttle and time.monotonic() - self.last < 5:
            return True
        self.last = time.monotonic()
        try:
            self.store.put(name, (workdir / name).read_bytes())
        except Exception as exc:
            log.error("could not upload %s: %s", name, getattr(exc, "log_detail", exc))
            return False
        return True


class _HtmlWarmer:
    """Import nbconvert and compile its template in a thread while the kernel works."""

    def __init__(self) -> None:
        self._exporter: Any = None
        self._thread = threading.Thread(target=self._warm, name="html-warm", daemon=True)
        self._thread.start()

    def _warm(self) -> None:
        try:
            import nbformat

            exporter = _exporter()
            exporter.from_notebook_node(nbformat.v4.new_notebook())
            self._exporter = exporter
        except Exception:  # render_html tries again and reports
            self._exporter = None

    def wait(self) -> Any:
        self._thread.join()
        return self._exporter


def _exporter() -> Any:
    from nbconvert import HTMLExporter

    return HTMLExporter(sanitize_html=True)


_shared: list[Any] = []  # one exporter reused by on-request renders (≈20 ms vs ≈150 ms)
_shared_lock = threading.Lock()


def render_html(notebook: Path, target: Path, redactor: Redactor | None = None,
                exporter: Any = None) -> None:
    """``notebook`` as standalone HTML (outputs sanitised) in ``target``.

    Also for the service: make the HTML on request from a stored (already redacted)
    output notebook; calls in one process share a compiled exporter.
    """
    import nbformat

    nb = nbformat.read(notebook, as_version=4)
    if exporter is not None:
        body, _ = exporter.from_notebook_node(nb)
    else:
        with _shared_lock:
            if not _shared:
                _shared.append(_exporter())
            body, _ = _shared[0].from_notebook_node(nb)
    if redactor is not None:
        body = redactor.text(body)
    tmp = target.with_name("." + target.name + ".tmp")
    tmp.write_text(body, encoding="utf-8")
    os.replace(tmp, target)


def _watchdog(run: Run) -> None:
    """If nobody stops the run at its timeout, stop it here (result first)."""
    timeout = run.spec.get("timeout_s")
    if not timeout:
        return

    def expire() -> None:
        log.error("timed out after %s s (runner watchdog)", timeout)
        run.finish("timed_out", f"The run exceeded its time limit of {timeout} s.")
        os.killpg(os.getpgid(0), signal.SIGKILL)  # the kernel exits with its parent

    timer = threading.Timer(float(timeout) + WATCHDOG_GRACE_S, expire)
    timer.daemon = True
    timer.start()


def _error_of(exc: BaseException) -> str:
    ename = getattr(exc, "ename", None)
    if ename is not None:  # papermill.exceptions.PapermillExecutionError
        return f"Cell {getattr(exc, 'exec_count', '?')} raised {ename}: " \
               f"{getattr(exc, 'evalue', '')}"
    return f"{type(exc).__name__}: {exc}"


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1:
        print("usage: python -m assay.jobs.runner WORKDIR", file=sys.stderr)
        return 2
    run = Run(Path(args[0]).resolve())
    try:
        if os.environ.get(OUTPUT_URL_ENV):
            run.uploader = _Uploader(os.environ[OUTPUT_URL_ENV])
        run.prepare()
    except Exception as exc:
        return run.finish("failed", f"The run could not start: {exc}")
    _watchdog(run)
    try:
        run.execute()
    except Exception as exc:
        error = _error_of(exc)
        log.error("run failed: %s", error)
        return run.finish("failed", error)
    log.info("run succeeded in %.2f s", time.monotonic() - run.started)
    return run.finish("succeeded", None)


if __name__ == "__main__":
    sys.exit(main())
