"""Taint-on-save: a notebook whose kernel read data is marked with the highest class read.

When a notebook is saved, the kernels of its sessions (now and earlier in this
server's life) are looked up, the broker says what each has read, and the marking
(merged with the one already saved at that path and the one in the model) is written
into ``metadata.assay``. Saves go through ``ContentsManager.save``, which is wrapped
because a pre-save hook cannot wait for the broker without blocking the server; the
session manager's ``save_session``/``update_session`` are wrapped to remember which
kernels served which notebook, so a kernel shut down before the save still counts.
"""

from __future__ import annotations

import logging
from typing import Any

from jupyter_core.utils import ensure_async
from tornado import web

from ..kernels.broker import AssayDataError
from .client import ServerBroker
from .marking import Marking

log = logging.getLogger("assay.extensions")


def _clean(path: str) -> str:
    return path.strip("/")


class TaintTracker:
    """What each notebook path's kernels have read, and what its saved file says."""

    def __init__(self, broker: ServerBroker, contents_manager: Any, session_manager: Any):
        self.broker = broker
        self.contents = contents_manager
        self.sessions = session_manager
        self._kernels: dict[str, set[str]] = {}  # path -> every kernel seen for it
        self._saved: dict[str, tuple[Any, Marking]] = {}  # path -> (last_modified, marking)

    def remember(self, session: Any) -> None:
        """Note which kernel serves which path, for as long as this server runs."""
        if not isinstance(session, dict):
            return
        kernel = session.get("kernel") or {}
        if session.get("path") and kernel.get("id"):
            self._kernels.setdefault(_clean(session["path"]), set()).add(kernel["id"])

    async def kernels_for(self, path: str) -> set[str]:
        """Kernels of the sessions on ``path`` now, plus those seen before (restarts,
        kernel changes, shut down): their reads may still be in the notebook's outputs."""
        for session in await ensure_async(self.sessions.list_sessions()):
            self.remember(session)
        return set(self._kernels.get(_clean(path), ()))

    async def live_marking(self, path: str) -> Marking:
        """What the kernels of ``path`` have read, per the broker (empty if unknown)."""
        marking = Marking()
        for kernel in sorted(await self.kernels_for(path)):
            try:
                marking = marking.merge(await self.broker.taint(kernel))
            except AssayDataError as exc:
                log.warning("[Assay] could not ask the broker what kernel %s of %s read: %s",
                            kernel, path, exc)
        return marking

    async def saved_marking(self, path: str) -> Marking:
        """The marking in the notebook saved at ``path`` (empty if none or not a notebook)."""
        path = _clean(path)
        try:
            info = await ensure_async(self.contents.get(path, content=False))
        except web.HTTPError:
            return Marking()
        if info.get("type") != "notebook":
            return Marking()
        cached = self._saved.get(path)
        if cached and cached[0] == info.get("last_modified"):
            return cached[1]
        try:
            model = await ensure_async(self.contents.get(path, content=True, type="notebook"))
        except web.HTTPError:
            return Marking()
        marking = Marking.from_metadata((model.get("content") or {}).get("metadata"))
        self._saved[path] = (model.get("last_modified"), marking)
        return marking

    async def marking_for(self, path: str) -> Marking:
        """Everything known about ``path``: its saved marking and its kernels' reads."""
        return (await self.saved_marking(path)).merge(await self.live_marking(path))

    async def mark(self, model: dict, path: str) -> Marking | None:
        """Write the marking into a notebook model about to be saved at ``path``."""
        content = model.get("content")
        if model.get("type") != "notebook" or not isinstance(content, dict):
            return None
        metadata = content.setdefault("metadata", {})
        marking = Marking.from_metadata(metadata).merge(await self.marking_for(path))
        if marking:
            marking.write(metadata)
            log.info("[Assay] %s marked %s (%s)", path, marking.classification,
                     ", ".join(marking.datasets))
        return marking

    def install(self) -> None:
        """Wrap the contents manager's ``save`` and watch sessions being made and changed."""
        if getattr(self.contents.save, "_assay_taint", False):
            return
        save, save_session = self.contents.save, self.sessions.save_session
        update_session = self.sessions.update_session

        async def saving(model: dict, path: str = "", *args: Any, **kwargs: Any) -> Any:
            marking = await self.mark(model, path)
            saved = await ensure_async(save(model, path, *args, **kwargs))
            if marking is not None and isinstance(saved, dict):
                self._saved[_clean(path)] = (saved.get("last_modified"), marking)
            return saved

        async def session_saved(*args: Any, **kwargs: Any) -> Any:
            session = await save_session(*args, **kwargs)
            self.remember(session)
            return session

        async def session_updated(session_id: str, **kwargs: Any) -> Any:
            result = await update_session(session_id, **kwargs)
            self.remember(await self.sessions.get_session(session_id=session_id))
            return result

        saving._assay_taint = True  # type: ignore[attr-defined]
        self.contents.save = saving
        self.sessions.save_session = session_saved
        self.sessions.update_session = session_updated
