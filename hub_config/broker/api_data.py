"""Dataset endpoints: list, show, files, stream (with Range), signed URLs."""

from __future__ import annotations

import re
import time
from typing import Any

from tornado.ioloop import IOLoop

from ..config.catalog import Dataset
from ..errors import AccessDenied, BrokerError, RangeNotSatisfiable
from . import signing
from .api_base import BrokerHandler
from .policy import Decision, Identity, clearance, decide
from .storage.base import ObjectStore
from .storage.paths import clean_path

_RANGE = re.compile(r"^bytes=(\d*)-(\d*)$")


def parse_range(header: str | None, size: int) -> tuple[int, int] | None:
    """``Range: bytes=a-b`` → (start, end exclusive); None for the whole file."""
    if not header:
        return None
    match = _RANGE.match(header.strip())
    if not match or match.groups() == ("", ""):
        return None  # multi-range or malformed: RFC 9110 lets us ignore it
    first, last = match.groups()
    if first == "":
        start, end = max(size - int(last), 0), size
    else:
        start = int(first)
        end = min(int(last) + 1, size) if last else size
    if start >= size or start >= end:
        raise RangeNotSatisfiable(size)
    return start, end


def describe(dataset: Dataset, decision: Decision) -> dict[str, Any]:
    out = {"name": dataset.name, "description": dataset.description,
           "classification": dataset.classification, "zone": dataset.zone,
           "groups": list(dataset.groups), "owners": list(dataset.owners),
           "approver": dataset.approver, "can_read": decision.allowed}
    if not decision.allowed:
        out.update(missing=decision.missing, message=decision.message, ask=decision.ask)
    return out


class DataHandler(BrokerHandler):
    def decide(self, who: Identity, dataset: Dataset) -> Decision:
        config = self.broker.config()
        return decide(who, dataset, config.data, config.profiles)

    def authorize(self, dataset: Dataset, action: str, path: str = "") -> None:
        decision = self.decide(self.who, dataset)
        if not decision.allowed:
            self.record(action=action, allowed=False, reason=decision.reason,
                        dataset=dataset.name, path=path)
            raise AccessDenied(decision.message, dataset=dataset.name,
                               missing=decision.missing, ask=decision.ask)

    def clean(self, dataset: Dataset, raw: str, action: str) -> str:
        try:
            return clean_path(raw)
        except BrokerError:
            self.record(action=action, allowed=False, reason="invalid-path",
                        dataset=dataset.name, path=raw)
            raise

    async def in_thread(self, fn: Any, *args: Any) -> Any:
        return await IOLoop.current().run_in_executor(None, fn, *args)


class WhoAmIHandler(DataHandler):
    async def get(self) -> None:
        who = await self.identify("whoami")
        self.write_json({
            "user": who.user, "groups": sorted(who.groups), "admin": who.admin,
            "zone": who.zone, "server": who.server, "profile": who.profile,
            "purpose": who.purpose,
            "clearance": clearance(self.broker.config().data, who.groups)})


class DatasetsHandler(DataHandler):
    async def get(self) -> None:
        who = await self.identify("list")
        datasets = self.broker.config().data.datasets
        self.record(action="list", allowed=True, reason="allowed")
        self.write_json({"datasets": [describe(d, self.decide(who, d)) for d in datasets]})


class DatasetHandler(DataHandler):
    async def get(self, name: str) -> None:
        await self.identify("show", name)
        dataset = self.find_dataset(name, "show")
        decision = self.decide(self.who, dataset)
        self.record(action="show", allowed=True, reason="allowed", dataset=name)
        self.write_json(describe(dataset, decision))


class FilesHandler(DataHandler):
    async def get(self, name: str) -> None:
        await self.identify("files", name)
        dataset = self.find_dataset(name, "files")
        self.authorize(dataset, "files")
        store = self.broker.store(dataset)
        files = await self.in_thread(store.list)
        self.record(action="files", allowed=True, reason="allowed", dataset=name)
        self.write_json({"dataset": name,
                         "files": [{"path": f.path, "size": f.size} for f in files]})


async def stream(handler: DataHandler, store: ObjectStore, path: str, start: int,
                 end: int) -> None:
    """Send bytes [start, end) chunk by chunk; storage I/O stays off the event loop."""
    chunks = await handler.in_thread(store.read, path, start, end)
    try:
        while True:
            chunk = await handler.in_thread(next, chunks, None)
            if chunk is None:
                break
            handler.write(chunk)
            await handler.flush()
    finally:
        chunks.close()
    handler.finish()


class FileHandler(DataHandler):
    async def get(self, name: str, raw_path: str) -> None:
        await self.identify("read", name, raw_path)
        dataset = self.find_dataset(name, "read", raw_path)
        self.authorize(dataset, "read", raw_path)
        path = self.clean(dataset, raw_path, "read")
        await self.serve(dataset, path, action="read")

    async def serve(self, dataset: Dataset, path: str, action: str) -> None:
        store = self.broker.store(dataset)
        try:
            info = await self.in_thread(store.stat, path)
            span = parse_range(self.request.headers.get("Range"), info.size)
        except BrokerError as exc:
            self.record(action=action, allowed=False, reason=exc.error,
                        dataset=dataset.name, path=path)
            raise
        start, end = span or (0, info.size)
        self.record(action=action, allowed=True, reason="allowed", dataset=dataset.name,
                    path=path, nbytes=end - start)
        self.set_header("Content-Type", "application/octet-stream")
        self.set_header("Accept-Ranges", "bytes")
        self.set_header("Content-Length", str(end - start))
        if span:
            self.set_status(206)
            self.set_header("Content-Range", f"bytes {start}-{end - 1}/{info.size}")
        await stream(self, store, path, start, end)


class SignedUrlHandler(DataHandler):
    async def post(self, name: str, raw_path: str) -> None:
        await self.identify("sign", name, raw_path)
        dataset = self.find_dataset(name, "sign", raw_path)
        self.authorize(dataset, "sign", raw_path)
        path = self.clean(dataset, raw_path, "sign")
        store = self.broker.store(dataset)
        ttl = self.broker.config().data.signed_url_ttl
        try:
            info = await self.in_thread(store.stat, path)
        except BrokerError as exc:
            self.record(action="sign", allowed=False, reason=exc.error, dataset=name, path=path)
            raise
        url = await self.in_thread(store.presign, path, ttl)
        if url is None:
            token = signing.sign(self.broker.secret, dataset=name, path=path,
                                 user=self.who.user, session_id=self.who.session_id,
                                 expires_at=int(time.time()) + ttl)
            url = self.broker.public_url(self.request, f"api/v1/signed/{token}")
        self.record(action="sign", allowed=True, reason="allowed", dataset=name, path=path,
                    nbytes=info.size)
        self.write_json({"url": url, "expires_in": ttl, "size": info.size})


class SignedFileHandler(FileHandler):
    """A broker-signed URL: the signature and expiry stand in for the token, and the
    grant's holder is decided again (a revoked session or lost group ends it)."""

    async def get(self, token: str) -> None:  # type: ignore[override]
        try:
            grant = signing.verify(self.broker.secret, token, time.time())
        except BrokerError as exc:
            self.record(action="read-signed", allowed=False, reason=exc.error)
            raise
        try:
            self.who = await self.broker.resolver.identity_for_grant(grant)
        except BrokerError as exc:
            self.record(action="read-signed", allowed=False, reason=exc.error,
                        dataset=grant.dataset, path=grant.path,
                        who=Identity(user=grant.user, groups=frozenset(),
                                     session_id=grant.session_id))
            raise
        dataset = self.find_dataset(grant.dataset, "read-signed", grant.path)
        self.authorize(dataset, "read-signed", grant.path)
        await self.serve(dataset, grant.path, action="read-signed")


class NotFoundHandler(BrokerHandler):
    """Any other path under the service: a JSON 404."""

    async def prepare(self) -> None:
        self.write_json({"error": "not_found", "message": "No such endpoint. See "
                         "api/v1/openapi.json."}, status=404)
