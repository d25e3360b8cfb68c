"""What a notebook can do when it runs as an Assay job: record metrics, know its run.

Light on purpose (``import assay.jobs`` imports this, never papermill): the broker
client is imported on the first metric recorded inside a job run.

Inside a run the runner sets ``ASSAY_RUN_ID``, ``ASSAY_JOB_ID`` and
``ASSAY_METRICS_FILE``; :func:`record` appends each metric to that file (one JSON
line) *and* posts it to the broker, so the run's result lists the metric even if the
broker could not be reached. Outside a run :func:`record` keeps the metric in this
process (:func:`local_metrics`) and warns once, so the same notebook runs
interactively too.
"""

from __future__ import annotations

import json
import math
import numbers
import os
import re
import threading
import warnings
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

RUN_ID_ENV = "ASSAY_RUN_ID"
JOB_ID_ENV = "ASSAY_JOB_ID"
METRICS_FILE_ENV = "ASSAY_METRICS_FILE"
METRIC_NAME = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")
POST_TIMEOUT = 10.0  # seconds; a metric is not worth stalling a run for

_local: list[dict[str, Any]] = []
_lock = threading.Lock()
_warned: set[str] = set()


def current_run() -> dict[str, str] | None:
    """``{"run_id": ..., "job_id": ...}`` when this code runs as a job, else ``None``."""
    run_id = os.environ.get(RUN_ID_ENV, "")
    if not run_id:
        return None
    return {"run_id": run_id, "job_id": os.environ.get(JOB_ID_ENV, "")}


def _metric_error(message: str) -> Exception:
    from ..errors import MetricError

    return MetricError(message)


def check_metric(name: object, value: object) -> tuple[str, float]:
    """``(name, float(value))`` or a ``MetricError`` saying what is wrong."""
    if not isinstance(name, str) or not METRIC_NAME.match(name):
        raise _metric_error(
            f"Invalid metric name {name!r}: use 1-64 ASCII letters, digits, '_', '.' and "
            "'-', e.g. 'auc' or 'loss.val'.")
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise _metric_error(
            f"Metric {name!r} must be a number (int or float), got {type(value).__name__} "
            f"{value!r}.")
    number = float(value)
    if not math.isfinite(number):
        raise _metric_error(f"Metric {name!r} must be a finite number, got {number!r}.")
    return name, number


def _warn_once(key: str, message: str) -> None:
    with _lock:
        if key in _warned:
            return
        _warned.add(key)
    warnings.warn(message, RuntimeWarning, stacklevel=3)


def record(name: str, value: float) -> None:
    """Record metric ``name`` = ``value`` for this run (drift rules watch metrics).

    ``name``: 1-64 characters of ``[A-Za-z0-9_.-]``; ``value``: a finite number.
    Outside a job run the metric is kept locally (see :func:`local_metrics`).
    """
    name, number = check_metric(name, value)
    entry = {"name": name, "value": number,
             "at": datetime.now(UTC).isoformat(timespec="milliseconds")}
    run = current_run()
    if run is None:
        with _lock:
            _local.append(entry)
        _warn_once("local", "Not running as an Assay job: metrics are kept in this kernel "
                   "only (assay.jobs.local_metrics()); they are stored when the notebook "
                   "runs as a job.")
        return
    saved = _append(entry)
    try:
        _post(run["run_id"], name, number)
    except Exception as exc:  # reported below; the metrics file keeps the metric
        if not saved:
            raise
        _warn_once("post", f"The metric was saved with the run but not sent live to the "
                   f"Assay service: {exc}")


def _append(entry: dict[str, Any]) -> bool:
    """Append to ``$ASSAY_METRICS_FILE``; ``False`` if there is none."""
    path = os.environ.get(METRICS_FILE_ENV, "")
    if not path:
        return False
    line = json.dumps(entry, separators=(",", ":")) + "\n"
    with _lock, open(path, "a", encoding="utf-8") as handle:
        handle.write(line)
    return True


def _post(run_id: str, name: str, value: float) -> None:
    from . import broker

    env = os.environ
    if not env.get(broker.SESSION_TOKEN_ENV) or not env.get(broker.BROKER_URL_ENV):
        if env.get(METRICS_FILE_ENV):
            return  # no broker for this run (e.g. local mode without one): the file is enough
    creds = broker.credentials()
    try:
        response = broker.http().post(creds.endpoint("runs", run_id, "metrics"),
                                      json={"name": name, "value": value},
                                      headers=broker.headers(creds), timeout=POST_TIMEOUT)
    except Exception as exc:  # httpx.HTTPError; httpx is imported only here
        raise broker.unreachable(creds, exc) from None
    if response.status_code >= 400:
        raise broker.error_for(response)


def local_metrics() -> list[dict[str, Any]]:
    """Metrics recorded in this process outside a job run (oldest first)."""
    with _lock:
        return [dict(m) for m in _local]


def read_metrics_file(path: Path) -> list[dict[str, Any]]:
    """The metrics a run appended to its metrics file; malformed lines are skipped."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (FileNotFoundError, NotADirectoryError):
        return []
    found: list[dict[str, Any]] = []
    for line in text.splitlines():
        try:
            item = json.loads(line)
            name, value = check_metric(item.get("name"), item.get("value"))
        except (ValueError, AttributeError):  # MetricError is a ValueError
            continue
        found.append({"name": name, "value": value, "at": str(item.get("at", ""))})
    return found
