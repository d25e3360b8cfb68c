"""Artifact bytes: ``PUT`` (streamed, hashed while stored) and ``GET`` (streamed, only to
callers who may read every input now, in a zone that allows the version's class).

``PUT models/{name}/versions/{N}/files/{path}``: only the registrant, only while the
version is pending, only declared paths, at most the declared size (413 beyond). The
service computes the sha256 itself; ``commit`` later compares it with the client's.
``GET models/{name}/versions/{N|alias}/files/{path}``: the stored bytes as they are, with
the recorded sha256 in ``X-Assay-Sha256`` (a client checks before deserialising).
Every upload and download, allowed or refused, is audited.
"""

from __future__ import annotations

from collections.abc import Awaitable, Iterator
from typing import Any

from tornado import web
from tornado.ioloop import IOLoop

from ..errors import (
    InvalidModelRequest,
    RegistryAccessDenied,
    RegistryConflict,
    RegistryTooLarge,
)
from ..registry.access import verdict
from ..registry.artifacts import Pipeline, Upload, artifact_key, open_artifact
from ..registry.rules import check_file_path, check_version_ref
from ..registry.store import FileRecord, VersionRecord
from .api_models import ModelsBase

SLACK = 64 * 1024  # tornado drops a connection this far past the declared size


async def in_thread(fn: Any, *args: Any) -> Any:
    return await IOLoop.current().run_in_executor(None, fn, *args)


def declared_file(version: VersionRecord, path: str) -> FileRecord:
    found = next((f for f in version.files if f.path == path), None)
    if found is None:
        names = ", ".join(f.path for f in version.files)
        raise InvalidModelRequest(f"path: {path!r} is not a file of version "
                                  f"{version.version}; its files are {names}.",
                                  field="path", value=repr(path), rule=f"one of {names}")
    return found


@web.stream_request_body
class ModelFileHandler(ModelsBase):
    upload: Pipeline | None = None
    target: tuple[VersionRecord, FileRecord] | None = None

    async def prepare(self) -> None:
        if self.request.method != "PUT":
            await super().prepare()
            return
        name, number, raw_path = self.path_args
        who = await self.caller("model.upload", name, person=True)
        version = self.found(name, check_version_ref(number))
        self.own_pending(who, version)
        declared = declared_file(version, check_file_path(raw_path, "path"))
        length = self.request.headers.get("Content-Length")
        if length is not None and (not length.isdigit() or int(length) > declared.size):
            raise self.too_large(declared, length)
        self.request.connection.set_max_body_size(declared.size + SLACK)
        self.target = (version, declared)
        key = artifact_key(name, version.version, declared.path)
        self.upload = Pipeline(await in_thread(Upload, self.objects, key, declared.size))

    def too_large(self, declared: FileRecord, got: object) -> RegistryTooLarge:
        return RegistryTooLarge(f"{declared.path!r}: {got} bytes sent, but {declared.size} "
                                "were declared at registration.", field="path",
                                value=repr(declared.path),
                                rule=f"at most {declared.size} bytes (as declared)")

    def data_received(self, chunk: bytes) -> Awaitable[None] | None:
        # hashed and written in the upload's worker thread; an awaitable when it lags
        return self.upload.feed(chunk) if self.upload is not None else None

    async def put(self, name: str, number: str, raw_path: str) -> None:
        assert self.upload is not None and self.target is not None
        pipeline, (version, declared) = self.upload, self.target
        upload = pipeline.upload
        where = f"versions/{version.version}/files/{declared.path}"
        await pipeline.drain()
        if upload.overflow:
            raise self.too_large(declared, f"more than {declared.size}")  # on_finish aborts
        async with self.registry.version_lock(version.id):  # no commit in between
            current = self.registry.models.version_by_id(version.id)
            if current is None:
                raise RegistryConflict(f"Version {version.version} was removed meanwhile: "
                                       "it stayed pending longer than models.pending_hours. "
                                       "Register again.", field="status", value="'removed'")
            if current.status != "pending":
                raise RegistryConflict(f"Version {version.version} was committed meanwhile; "
                                       "its files can no longer change.", field="status",
                                       value=repr(current.status))
            self.upload = None
            await pipeline.publish()
            self.registry.models.record_upload(version.id, declared.path, upload.size,
                                               upload.sha256)
        self.audit(True, f"sha256 {upload.sha256}", path=where, nbytes=upload.size)
        self.write_json({"path": declared.path, "size": upload.size,
                         "sha256": upload.sha256})

    def on_finish(self) -> None:
        if self.upload is not None:
            self.upload.abort()

    def on_connection_close(self) -> None:
        super().on_connection_close()
        if self.upload is not None:
            self.upload.abort()

    async def get(self, name: str, ref: str, raw_path: str) -> None:
        who = await self.caller("model.download", name)
        version = self.found(name, check_version_ref(ref))
        path = check_file_path(raw_path, "path")
        where = f"versions/{version.version}/files/{path}"
        if version.status != "ready":
            raise RegistryConflict(f"Version {version.version} of {name} is still pending; "
                                   "it has no artifacts to read yet.", field="status")
        record = declared_file(version, path)
        config = self.broker.config()
        answer = verdict(who, version.classification, [i.dataset for i in version.inputs],
                         config.data, config.profiles, config.models.class_zones)
        if not answer.allowed:
            self.audit(False, answer.reason, path=where)
            raise RegistryAccessDenied(
                answer.message(who.user, f"download version {version.version} of model "
                                         f"'{name}' ({version.classification})"),
                model=name, version=version.version, dataset=answer.dataset,
                missing=answer.missing, ask=answer.ask)
        size, chunks = await in_thread(open_artifact, self.objects,
                                       artifact_key(name, version.version, path))
        self.audit(True, "allowed", path=where, nbytes=size)
        self.set_header("Content-Type", "application/octet-stream")
        self.set_header("Content-Length", str(size))
        self.set_header("X-Assay-Sha256", record.sha256 or "")
        await self.stream(chunks)

    async def stream(self, chunks: Iterator[bytes]) -> None:
        try:
            while True:
                chunk = await in_thread(next, chunks, None)
                if chunk is None:
                    break
                self.write(chunk)
                await self.flush()
        finally:
            close = getattr(chunks, "close", None)
            if close:
                close()
        self.finish()
