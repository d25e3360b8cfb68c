"""Registrations never committed (the kernel died, or the upload was abandoned): after
``models.pending_hours`` the service removes the pending version, its file and input
records and the bytes already uploaded for it, audited as ``model.expire``. The number is
not reused.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from ..errors import AssayError
from ..objects import ObjectRemover, ObjectStore

if TYPE_CHECKING:
    from ..broker.audit import AuditLog
    from . import Registry

log = logging.getLogger(__name__)

ACTOR = "assay"  # the service itself, in the audit log's user column
MAX_INTERVAL = 600.0  # seconds between passes, at most


def interval(pending_hours: float) -> float:
    """Seconds between passes: a quarter of the limit, between 1 s and 10 minutes."""
    return min(MAX_INTERVAL, max(1.0, pending_hours * 3600 / 4))


def remove_bytes(objects: ObjectStore | None, name: str, number: int) -> str:
    """Delete what was uploaded for version ``number`` of ``name``; says what happened
    (a store failure is logged, not raised: the version is gone either way)."""
    if not isinstance(objects, ObjectRemover):
        return "uploaded files left in place (the store cannot delete)"
    try:
        count = sum(objects.delete(key) for key in objects.list(f"models/{name}/{number}/"))
    except AssayError as exc:
        log.error("model %s version %d: uploaded files not removed: %s", name, number,
                  exc.log_detail)
        return "its uploaded files could not be removed (see the service log)"
    return f"{count} uploaded file(s) removed"


async def expire_pending(registry: Registry, audit: AuditLog, pending_hours: float,
                         objects: ObjectStore | None = None, now: datetime | None = None,
                         ) -> list[tuple[str, int]]:
    """Remove every version pending for longer than ``pending_hours``; ``(model,
    number)`` of each one removed. An upload or commit of the version in flight finishes
    first (the version's lock), and a version committed meanwhile stays."""
    before = (now or datetime.now(UTC)) - timedelta(hours=pending_hours)
    removed = []
    for version_id, name, number, registrant in await asyncio.to_thread(
            registry.models.stale_pending, before):
        async with registry.version_lock(version_id):
            if not await asyncio.to_thread(registry.models.drop_pending, version_id, before):
                continue
            removed_bytes = await asyncio.to_thread(remove_bytes, objects, name, number)
        await asyncio.to_thread(
            audit.append, user=ACTOR, server="", profile="", zone="", purpose="",
            session_id="", kernel_id="", dataset=f"model:{name}"[:200],
            path=f"versions/{number}", action="model.expire", bytes=0, decision="allow",
            reason=f"pending for more than {pending_hours:g} h (registrant {registrant}); "
                   f"removed, its number is not reused; {removed_bytes}")
        log.info("model %s version %d: pending for more than %g h, removed; %s", name,
                 number, pending_hours, removed_bytes)
        removed.append((name, number))
    return removed
