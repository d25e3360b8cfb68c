"""A client of the jobs REST API (``{ASSAY_BROKER_URL}api/v1/``) for the CLI and the widget.

Where and as whom: ``url`` or ``$ASSAY_BROKER_URL`` (every Assay server has it), and
``token`` or ``$ASSAY_SESSION_TOKEN`` / ``$JUPYTERHUB_API_TOKEN`` / ``$ASSAY_TOKEN``
(a session credential or a hub API token). URL building and headers are the kernel
broker client's (``assay.kernels.broker``). Every refusal becomes a ``JobsApiError``
carrying the service's ``message`` and ``problems``; :meth:`JobsApiError.render` is
what a person should read.
"""

from __future__ import annotations

import os
import re
import time
from collections.abc import Mapping
from pathlib import PurePath
from typing import Any
from urllib.parse import urlparse

import httpx

from ..errors import AssayError
from ..kernels import broker
from .model import FINAL

URL_ENV = broker.BROKER_URL_ENV
TOKEN_ENVS = (broker.SESSION_TOKEN_ENV, "JUPYTERHUB_API_TOKEN", "ASSAY_TOKEN")
TIMEOUT = httpx.Timeout(30.0, read=120.0)
_NOT_NAME = re.compile(r"[^a-z0-9._-]+")


def job_name(path: str | PurePath) -> str:
    """A valid job name from a notebook's file name: ``Daily Report.ipynb`` →
    ``daily-report``."""
    name = _NOT_NAME.sub("-", PurePath(path).stem.lower()).strip("._-")[:64].strip("._-")
    return name or "notebook"


class JobsApiError(AssayError):
    """A request the service refused or could not answer. ``problems`` lists each
    fault (field: what is wrong); ``status`` is the HTTP status (0: no answer)."""

    def __init__(self, message: str, problems: list[str] | None = None, *,
                 status: int = 0, error: str = ""):
        super().__init__(message)
        self.message, self.status, self.error = message, status, error
        self.problems = [p for p in (problems or []) if p and p != message]

    def lines(self) -> list[str]:
        """The message, then one line per problem. A message that merely joins the
        problems (``"Invalid job: a; b"``) is shortened to its lead (``"Invalid job:"``)."""
        head = self.message
        joined = "; ".join(self.problems)
        if self.problems and head.endswith(joined):
            head = head[: len(head) - len(joined)].rstrip() or "The request was refused:"
        return [head, *(f"  - {p}" for p in self.problems)]

    def render(self) -> str:
        return "\n".join(self.lines())


class NoConnection(JobsApiError):
    """No service URL or no credential to show it."""


def connection(url: str | None = None, token: str | None = None,
               environ: Mapping[str, str] | None = None) -> broker.Credentials:
    """The service URL and credential: the arguments, else the environment."""
    env = os.environ if environ is None else environ
    url = url or env.get(URL_ENV, "")
    token = token or next((env[name] for name in TOKEN_ENVS if env.get(name)), "")
    missing = []
    if not url:
        missing.append(f"no service URL: pass --url or set ${URL_ENV} (every Assay server "
                       "sets it), e.g. https://hub.example.org/services/assay/")
    if not token:
        missing.append("no credential: pass --token or set $" + " / $".join(TOKEN_ENVS)
                       + " (a hub API token from the hub's Token page works)")
    if missing:
        raise NoConnection("Cannot reach the Assay service:", missing)
    if not urlparse(url).scheme.startswith("http"):
        raise NoConnection(f"The service URL must start with http:// or https://, got "
                           f"{url!r}.")
    return broker.Credentials(url if url.endswith("/") else url + "/", token)


def _refusal(response: httpx.Response) -> JobsApiError:
    try:
        body = response.json()
    except ValueError:
        body = None
    body = body if isinstance(body, dict) else {}
    message = str(body.get("message") or "").strip()
    problems = [str(p) for p in body.get("problems") or [] if p]
    status = response.status_code
    if not message:
        message = f"The Assay service answered {status} {response.reason_phrase}."
    if status == 401:
        message = ("The Assay service did not accept the credential "
                   f"({message.rstrip('.')}). Check --token / the token variables.")
    return JobsApiError(message, problems, status=status, error=str(body.get("error") or ""))


class JobsClient:
    """One connection to the jobs API; methods return the service's JSON."""

    def __init__(self, creds: broker.Credentials, http: httpx.Client | None = None):
        self.creds = creds
        self._http = http or httpx.Client(timeout=TIMEOUT, follow_redirects=False)

    @classmethod
    def connect(cls, url: str | None = None, token: str | None = None,
                environ: Mapping[str, str] | None = None) -> JobsClient:
        return cls(connection(url, token, environ))

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> JobsClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- transport ----------------------------------------------------------------

    def request(self, method: str, *parts: str | int, body: Any = None,
                params: Mapping[str, Any] | None = None) -> httpx.Response:
        """One request; ``JobsApiError`` for any answer ≥ 400 or no answer at all."""
        url = self.creds.endpoint(*(str(p) for p in parts))
        headers = broker.headers(self.creds)
        headers["User-Agent"] = "assay-jobs/0.1"
        try:
            response = self._http.request(method, url, json=body, params=params,
                                          headers=headers)
        except httpx.HTTPError as exc:
            raise JobsApiError(f"Could not reach the Assay service at {self.creds.url}: "
                               f"{type(exc).__name__}: {exc}".rstrip(": ")) from None
        if response.status_code >= 400:
            raise _refusal(response)
        return response

    def json(self, method: str, *parts: str | int, body: Any = None,
             params: Mapping[str, Any] | None = None) -> Any:
        response = self.request(method, *parts, body=body, params=params)
        if response.status_code == 204 or not response.content:
            return {}
        try:
            return response.json()
        except ValueError:
            raise JobsApiError(f"The Assay service answered {response.status_code} with "
                               "something that is not JSON; is the URL the Assay service "
                               f"({self.creds.url})?", status=response.status_code) from None

    # -- jobs -----------------------------------------------------------------------

    def submit(self, job: Mapping[str, Any]) -> dict[str, Any]:
        """``POST jobs``: ``{"job": {...}, "run": {...} | None}``."""
        return self.json("POST", "jobs", body=dict(job))

    def jobs(self) -> list[dict[str, Any]]:
        return _items(self.json("GET", "jobs"), "jobs")

    def job(self, job_id: int | str) -> dict[str, Any]:
        return _item(self.json("GET", "jobs", job_id), "job")

    def find_job(self, ref: str) -> dict[str, Any]:
        """A job by id, or by name among the caller's jobs."""
        if ref.isdigit():
            return self.job(ref)
        for job in self.jobs():
            if job.get("name") == ref:
                return job
        raise JobsApiError(f"No job named {ref!r}; `assay jobs list` shows your jobs.",
                           status=404, error="job_not_found")

    def run_now(self, job_id: int | str) -> dict[str, Any]:
        return _item(self.json("POST", "jobs", job_id, "runs"), "run")

    def runs(self, job_id: int | str) -> list[dict[str, Any]]:
        return _items(self.json("GET", "jobs", job_id, "runs"), "runs")

    def run(self, run_id: int | str) -> dict[str, Any]:
        return _item(self.json("GET", "runs", run_id), "run")

    def log(self, run_id: int | str) -> str:
        return self.request("GET", "runs", run_id, "log").text

    def cancel(self, run_id: int | str) -> dict[str, Any]:
        return _item(self.json("POST", "runs", run_id, "cancel"), "run")

    def profiles(self) -> list[dict[str, Any]]:
        return _items(self.json("GET", "profiles"), "profiles")

    def wait(self, run_id: int | str, timeout: float | None = None,
             interval: float = 0.25) -> dict[str, Any]:
        """Poll ``GET runs/{id}`` until the run has ended (or ``timeout`` seconds)."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            run = self.run(run_id)
            if run.get("status") in FINAL:
                return run
            if deadline is not None and time.monotonic() > deadline:
                raise JobsApiError(f"Run {run_id} is still {run.get('status')} after "
                                   f"{timeout:g} s.")
            time.sleep(interval)

    # -- secrets --------------------------------------------------------------------

    def set_secret(self, name: str, value: str) -> dict[str, Any]:
        """``POST secrets`` ``{"name", "value"}``: store or replace."""
        return self.json("POST", "secrets", body={"name": name, "value": value})

    def secrets(self) -> list[dict[str, Any]]:
        found = _items(self.json("GET", "secrets"), "secrets")
        return [s if isinstance(s, dict) else {"name": str(s)} for s in found]

    # -- links ----------------------------------------------------------------------

    def job_page(self, job_id: int | str) -> str:
        """The job's page in the service, as an absolute path on the hub's host
        (``{prefix}ui/jobs/{id}``): the browser reaches it through the hub's proxy."""
        return f"{urlparse(self.creds.url).path}ui/jobs/{job_id}"


def _items(data: Any, key: str) -> list[Any]:
    """A list answer, bare or wrapped as ``{key: [...]}``."""
    if isinstance(data, dict):
        data = data.get(key, [])
    return list(data) if isinstance(data, list) else []


def _item(data: Any, key: str) -> dict[str, Any]:
    """An object answer, bare or wrapped as ``{key: {...}}``."""
    if isinstance(data, dict) and isinstance(data.get(key), dict):
        return data[key]
    return data if isinstance(data, dict) else {}
