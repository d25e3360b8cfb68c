"""The model registry's REST API (``{ASSAY_BROKER_URL}api/v1/models``) as the kernel uses it.

Same credential and connection pool as ``assay.data`` (``assay.kernels.broker``): the
session token, ``X-Assay-Kernel`` naming this kernel (the service computes lineage from
what this kernel read). Files go up and come down as streams, hashed in the same pass;
nothing holds a whole artifact in memory.
"""

from __future__ import annotations

import hashlib
import os
import queue
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlparse

import httpx

from ..errors import (
    InvalidModelInput,
    ModelAccessDenied,
    ModelConflict,
    ModelIntegrityError,
    ModelNotFound,
    ModelServiceError,
    ModelTooLarge,
)
from . import broker

CHUNK = 1024 * 1024
QUEUED = 4  # blocks read and hashed ahead of the one being sent
UPLOAD_TIMEOUT = httpx.Timeout(60.0, read=600.0, write=600.0)


def segment(part: str | int) -> str:
    """One URL path segment: everything encoded, '/' and dot segments included, so the
    service sees (and judges) a name exactly as given."""
    text = str(part)
    return "%2E" * len(text) if text in (".", "..") else quote(text, safe="")


def file_path(path: str) -> str:
    """An artifact path: its '/'-separated segments, each encoded."""
    return "/".join(segment(p) for p in path.split("/"))


def _error_info(response: httpx.Response) -> dict[str, Any]:
    """The error object: ``{"error": {...}}`` (models API) or ``{"error": code,
    "message": ...}`` (the data API's shape)."""
    try:
        body = response.json()
    except ValueError:
        body = None
    if not isinstance(body, dict):
        return {}
    inner = body.get("error")
    if isinstance(inner, dict):
        return inner
    return {**body, "code": inner} if inner else body


def refusal(response: httpx.Response, what: str = "") -> ModelServiceError:
    """The exception for an answer ≥ 400, carrying the service's message and field."""
    info = _error_info(response)
    status = response.status_code
    message = str(info.get("message") or "").strip()
    field = str(info.get("field") or "")
    kw: dict[str, Any] = {"status": status, "field": field, "details": info}
    if status == 400:
        return InvalidModelInput(message or f"The model registry refused {what}.", **kw)
    if status == 401:
        return ModelServiceError("The model registry did not accept this server's "
                                 f"credential: {message or 'unauthorized'}. Restart your "
                                 "server from the hub to get a new one.", **kw)
    if status == 403:
        return ModelAccessDenied(message or f"The model registry refused {what}.", **kw)
    if status == 404:
        return ModelNotFound(message or f"Not found: {what}. assay.models.list() lists the "
                             "models.", **kw)
    if status == 409:
        return ModelConflict(message or f"Conflict: {what}.", **kw)
    if status == 413:
        return ModelTooLarge(message or f"Too large for the model registry: {what}.", **kw)
    detail = message or response.reason_phrase or "no details"
    return ModelServiceError(f"The model registry answered {status}: {detail}", **kw)


def _session() -> broker.Credentials:
    try:
        return broker.credentials()
    except broker.AssayDataError:
        raise ModelServiceError(
            f"Not in an Assay server session: ${broker.SESSION_TOKEN_ENV} and "
            f"${broker.BROKER_URL_ENV} are not set. Models are registered and loaded from a "
            "notebook or terminal on a server started from the Assay hub; start one there "
            "(File > Hub Control Panel).") from None


class RegistryClient:
    """Requests to the registry with this server's credential (or explicit ones)."""

    def __init__(self, creds: broker.Credentials | None = None,
                 http: httpx.Client | None = None):
        self.creds = creds or _session()
        self._http = http

    @property
    def http(self) -> httpx.Client:
        return self._http or broker.http()

    def url(self, *parts: str | int, path: str = "") -> str:
        tail = "/".join(segment(p) for p in parts)
        return self.creds.url + broker.API + tail + (("/" + file_path(path)) if path else "")

    def page_url(self, name: str, version: int | str | None = None) -> str:
        """The model's page as an absolute path on the hub's host (through its proxy)."""
        base = urlparse(self.creds.url).path
        link = f"{base}models/{segment(name)}"
        return link + (f"#v{segment(version)}" if version is not None else "")

    def _unreachable(self, exc: Exception) -> ModelServiceError:
        return ModelServiceError(f"Could not reach the model registry at {self.creds.url}: "
                                 f"{type(exc).__name__}: {exc}. Try again; if it persists, ask "
                                 "an Assay admin whether the Assay service is running.")

    def request(self, method: str, *parts: str | int, body: Any = None,
                params: dict[str, Any] | None = None, what: str = "") -> Any:
        """One JSON request; the JSON answer, or the matching ``ModelServiceError``."""
        try:
            response = self.http.request(method, self.url(*parts), json=body, params=params,
                                         headers=broker.headers(self.creds))
        except httpx.HTTPError as exc:
            raise self._unreachable(exc) from None
        if response.status_code >= 400:
            raise refusal(response, what or "/".join(str(p) for p in parts))
        if not response.content:
            return {}
        try:
            return response.json()
        except ValueError:
            raise ModelServiceError(f"The model registry answered {response.status_code} "
                                    "with something that is not JSON.",
                                    status=response.status_code) from None

    def upload(self, parts: tuple[str | int, ...], path: str, source: Path,
               progress: Callable[[int], None] | None = None) -> tuple[dict[str, Any], str]:
        """PUT the file ``source`` as artifact ``path``, hashing it in the same pass (in a
        reader thread, while the previous block is being sent); the service's answer and
        our sha256."""
        size = os.path.getsize(source)
        reader = _HashingReader(source)
        headers = {**broker.headers(self.creds), "Content-Length": str(size),
                   "Content-Type": "application/octet-stream"}
        try:
            response = self.http.request("PUT", self.url(*parts, path=path),
                                         content=reader.blocks(progress), headers=headers,
                                         timeout=UPLOAD_TIMEOUT)
        except httpx.HTTPError as exc:
            raise self._unreachable(exc) from None
        finally:
            reader.stop()
        if response.status_code >= 400:
            raise refusal(response, f"uploading {path}")
        answer = response.json() if response.content else {}
        return answer if isinstance(answer, dict) else {}, reader.hexdigest()

    def download(self, parts: tuple[str | int, ...], path: str, target: Path) -> str:
        """GET artifact ``path`` into the file ``target``; its sha256 (streamed)."""
        digest = hashlib.sha256()
        request = self.http.build_request("GET", self.url(*parts, path=path),
                                          headers=broker.headers(self.creds))
        try:
            response = self.http.send(request, stream=True)
        except httpx.HTTPError as exc:
            raise self._unreachable(exc) from None
        try:
            if response.status_code >= 400:
                response.read()
                raise refusal(response, f"downloading {path}")
            target.parent.mkdir(parents=True, exist_ok=True)
            with open(target, "wb") as out:
                for block in response.iter_bytes(CHUNK):
                    digest.update(block)
                    out.write(block)
        except httpx.HTTPError as exc:
            raise self._unreachable(exc) from None
        finally:
            response.close()
        return digest.hexdigest()


def tampered(path: str, expected: str, actual: str) -> ModelIntegrityError:
    """A downloaded artifact whose hash is not the one the registry recorded."""
    return ModelIntegrityError(
        f"Artifact {path!r} does not match its registered hash: expected sha256 {expected}, "
        f"got {actual}. It was changed after it was registered (or damaged in transit); "
        "nothing was deserialised. Tell the model's registrant and an Assay admin.",
        path=path, expected=expected, actual=actual)


def damaged(path: str, ours: str, theirs: str) -> ModelIntegrityError:
    """An uploaded artifact the service hashed differently: nothing is committed."""
    return ModelIntegrityError(
        f"Artifact {path!r} arrived damaged: this kernel sent sha256 {ours}, the registry "
        f"received {theirs}. The version was not committed; register again.",
        path=path, expected=ours, actual=theirs)


class _HashingReader:
    """Reads and hashes a file in a thread, ``QUEUED`` blocks ahead of the sender: both
    hashlib and socket writes release the GIL, so hashing overlaps sending."""

    def __init__(self, source: Path):
        self.source = source
        self._digest = hashlib.sha256()
        self._queue: queue.Queue[bytes | BaseException | None] = queue.Queue(QUEUED)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._read, name="assay-upload-reader",
                                        daemon=True)

    def _put(self, item: bytes | BaseException | None) -> bool:
        while not self._stop.is_set():
            try:
                self._queue.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def _read(self) -> None:
        try:
            with open(self.source, "rb") as handle:
                while block := handle.read(CHUNK):
                    self._digest.update(block)
                    if not self._put(block):
                        return
        except OSError as exc:
            self._put(exc)
            return
        self._put(None)

    def blocks(self, progress: Callable[[int], None] | None = None) -> Iterator[bytes]:
        """The file's blocks, in order (raises the reader's ``OSError``)."""
        self._thread.start()
        while (item := self._queue.get()) is not None:
            if isinstance(item, BaseException):
                raise item
            if progress:
                progress(len(item))
            yield item

    def stop(self) -> None:
        """End the reader (the request is over, sent whole or not)."""
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join()

    def hexdigest(self) -> str:
        return self._digest.hexdigest()
