"""Registrations never committed (the kernel died, or the upload was abandoned): after
``models.pending_hours`` the service removes the pending version and its file and input
records, audited as ``model.expire``. The number is not reused. Bytes already uploaded stay
in the object store (it has no delete), never served: only ready versions are.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ..broker.audit import AuditLog
    from . import Registry

log = logging.getLogger(__name__)

ACTOR = "assay"  # the service itself, in the audit log's user column
MAX_INTERVAL = 600.0  # seconds between passes, at most


def interval(pending_hours: float) -> float:
    """Seconds between passes: a quarter of the limit, between 1 s and 10 minutes."""
    return min(MAX_INTERVAL, max(1.0, pending_hours * 3600 / 4))


async def expire_pending(registry: Registry, audit: AuditLog, pending_hours: float,
                         now: datetime | None = None) -> list[tuple[str, int]]:
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
        await asyncio.to_thread(
            audit.append, user=ACTOR, server="", profile="", zone="", purpose="",
            session_id="", kernel_id="", dataset=f"model:{name}"[:200],
            path=f"versions/{number}", action="model.expire", bytes=0, decision="allow",
            reason=f"pending for more than {pending_hours:g} h (registrant {registrant}); "
                   "removed, its number is not reused")
        log.info("model %s version %d: pending for more than %g h, removed", name, number,
                 pending_hours)
        removed.append((name, number))
    return removed
