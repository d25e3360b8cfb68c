"""How a kernel talks to the Assay data broker: credential, kernel id, errors.

The credential is the one the hub's spawner put in the server's environment
(``ASSAY_SESSION_TOKEN``, ``ASSAY_BROKER_URL``); kernels inherit it. Every request
says which kernel it comes from (``X-Assay-Kernel``) so that the server extension can
mark notebooks whose kernel read sensitive data.
"""

from __future__ import annotations

import atexit
import functools
import os
import re
import sys
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import httpx

from ..errors import AssayError

SESSION_TOKEN_ENV = "ASSAY_SESSION_TOKEN"
BROKER_URL_ENV = "ASSAY_BROKER_URL"
#: Set on Dask workers (``assay.dask``): the notebook kernel their reads belong to.
KERNEL_ID_ENV = "ASSAY_KERNEL_ID"
API = "api/v1/"
TIMEOUT = httpx.Timeout(30.0, read=300.0)
_KERNEL_FILE = re.compile(r"^kernel-([A-Za-z0-9-]{1,64})\.json$")


class AssayDataError(AssayError):
    """A data request that could not be served; the message says what to do."""

    def _render_traceback_(self) -> list[str]:
        """What IPython shows: the message, not the HTTP client's frames.

        (``traceback.print_exception`` still gives the full traceback.)
        """
        return [f"\x1b[0;31m{type(self).__name__}\x1b[0m: {self}"]


class DataAccessDenied(AssayDataError, PermissionError):
    """The broker refused a read. ``str()`` is its message: what is missing, whom to ask.

    ``dataset`` names the dataset, ``missing`` lists every missing entitlement and
    ``ask`` whom to ask for access.
    """

    def __init__(self, message: str, *, dataset: str = "", missing: list[str] | None = None,
                 ask: str = ""):
        super().__init__(message)
        self.dataset, self.missing, self.ask = dataset, list(missing or []), ask


class DataNotFound(AssayDataError, FileNotFoundError):
    """No such dataset or file (``assay.data.datasets()`` / ``files()`` list them)."""


@dataclass(frozen=True)
class Credentials:
    """Where the broker is and the session credential to show it."""

    url: str  # ends with "/"
    token: str

    def endpoint(self, *parts: str) -> str:
        """``api/v1/`` + the parts, each percent-encoded (slashes kept in file paths).

        ``.`` and ``..`` segments are encoded too: URL clients would resolve them away,
        and the broker should see (refuse, audit) the path as the user wrote it.
        """
        return self.url + API + "/".join(_quote(p) for p in parts)


def _quote(part: str) -> str:
    segments = part.split("/")
    return "/".join("%2E" * len(s) if s in (".", "..") else quote(s, safe="")
                    for s in segments)


def credentials(environ: Mapping[str, str] | None = None) -> Credentials:
    """The session credential of this server, or an ``AssayDataError`` saying why not."""
    env = os.environ if environ is None else environ
    token, url = env.get(SESSION_TOKEN_ENV, ""), env.get(BROKER_URL_ENV, "")
    if not token or not url:
        raise AssayDataError(
            f"Not in an Assay server session: {SESSION_TOKEN_ENV} and {BROKER_URL_ENV} are "
            "not set. Data can only be read from a notebook or terminal on a server "
            "started from the Assay hub; start one there (File > Hub Control Panel).")
    return Credentials(url if url.endswith("/") else url + "/", token)


@functools.cache
def kernel_id() -> str | None:
    """The id of the Jupyter kernel running this code; outside a kernel (a Dask worker)
    the one in ``ASSAY_KERNEL_ID``, else None."""
    running = _running_kernel_id()
    if running:
        return running
    inherited = os.environ.get(KERNEL_ID_ENV, "")
    return inherited if _KERNEL_FILE.match(f"kernel-{inherited}.json") else None


def _running_kernel_id() -> str | None:
    if "ipykernel" not in sys.modules:  # not imported: not in a kernel, skip the import
        return None
    try:
        from ipykernel.connect import get_connection_file

        name = os.path.basename(get_connection_file())
    except Exception:  # not a running kernel app (e.g. ipykernel merely imported)
        return None
    match = _KERNEL_FILE.match(name)
    return match.group(1) if match else None


def headers(creds: Credentials) -> dict[str, str]:
    out = {"Authorization": f"token {creds.token}", "User-Agent": "assay-data/0.1"}
    kernel = kernel_id()
    if kernel:
        out["X-Assay-Kernel"] = kernel
    return out


def error_for(response: httpx.Response) -> AssayDataError:
    """The exception for a broker error answer (status ≥ 400), with its message."""
    try:
        body = response.json()
    except ValueError:
        body = {}
    if not isinstance(body, dict):
        body = {}
    message = str(body.get("message") or "")
    status = response.status_code
    if status == 403:
        return DataAccessDenied(message or "The Assay data service refused this read.",
                                dataset=str(body.get("dataset") or ""),
                                missing=[str(m) for m in body.get("missing") or []],
                                ask=str(body.get("ask") or ""))
    if status == 404:
        return DataNotFound(message or "No such dataset or file. assay.data.datasets() lists "
                            "the datasets, assay.data.files(name) their files.")
    if status == 401:
        return AssayDataError("The Assay data service did not accept this server's "
                              f"credential: {message or 'unauthorized'}")
    detail = message or response.reason_phrase or "no details"
    return AssayDataError(f"The Assay data service answered {status}: {detail}")


_client: httpx.Client | None = None
_client_lock = threading.Lock()


def http() -> httpx.Client:
    """One connection pool per process, made on first use, closed at exit."""
    global _client
    with _client_lock:
        if _client is None or _client.is_closed:
            if _client is None:
                atexit.register(_close)
            _client = httpx.Client(timeout=TIMEOUT, follow_redirects=False)
        return _client


def _close() -> None:
    if _client is not None:
        _client.close()


def unreachable(creds: Credentials, exc: Exception) -> AssayDataError:
    return AssayDataError(f"Could not reach the Assay data service at {creds.url}: "
                          f"{type(exc).__name__}: {exc}. Try again; if it persists, ask an "
                          "Assay admin whether the data service is running.")


def get_json(*parts: str) -> Any:
    """GET one broker endpoint and return its JSON, or raise the matching error."""
    creds = credentials()
    try:
        response = http().get(creds.endpoint(*parts), headers=headers(creds))
    except httpx.HTTPError as exc:
        raise unreachable(creds, exc) from None
    if response.status_code >= 400:
        raise error_for(response)
    return response.json()


def open_stream(dataset: str, path: str, start: int = 0) -> httpx.Response:
    """A streaming GET of a file from byte ``start`` (a ``Range`` request if > 0).

    The caller closes the response. Errors are raised before any body is returned.
    """
    creds = credentials()
    extra = {"Range": f"bytes={start}-"} if start else {}
    client = http()
    request = client.build_request("GET", creds.endpoint("datasets", dataset, "files", path),
                                   headers={**headers(creds), **extra})
    try:
        response = client.send(request, stream=True)
    except httpx.HTTPError as exc:
        raise unreachable(creds, exc) from None
    if response.status_code >= 400:
        try:
            response.read()
        finally:
            response.close()
        raise error_for(response)
    return response
