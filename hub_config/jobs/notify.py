"""Webhook notifications on a run's failure or drift.

A webhook may only name a host of ``jobs.webhook_hosts`` (exact match after lower-casing;
no user info in the URL). The check happens at submit and again before every POST, so a
host removed from the admin YAML stops receiving at once; a refused URL is never
contacted. Redirects are not followed and proxy variables are ignored, so the POST goes
to the host that was checked and nowhere else. Payloads carry parameters as submitted
(secrets only as ``secret://name``), never secret values.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import httpx

from ..config.jobs import normal_host
from ..errors import WebhookRefused

if TYPE_CHECKING:
    from .store import Job, Run

log = logging.getLogger("assay.jobs.notify")
TIMEOUT_S = 5.0


def check_webhook(url: str, allowed_hosts: Sequence[str]) -> str:
    """The URL if it may be called; ``WebhookRefused`` naming the allowed hosts otherwise."""
    allowed = sorted({normal_host(h) for h in allowed_hosts})
    valid = ", ".join(allowed) or "(none: the admin allows no webhooks)"
    try:
        parts = urlsplit(url)
        host = parts.hostname
        parts.port  # noqa: B018 -- raises ValueError on a bad port
    except (ValueError, TypeError, AttributeError):
        raise WebhookRefused(f"webhook: {url!r} is not a URL") from None
    if parts.scheme not in ("http", "https") or not host:
        raise WebhookRefused(f"webhook: must be an http:// or https:// URL, got {url!r}")
    if parts.username is not None or parts.password is not None:
        raise WebhookRefused("webhook: the URL must not contain a user name or password")
    if normal_host(host) not in allowed:
        raise WebhookRefused(f"webhook: host {host!r} is not allowed; jobs.webhook_hosts "
                             f"of the admin config allows: {valid}")
    return url


def _run_fields(run: Run) -> dict[str, Any]:
    return {"id": run.id, "attempt": run.attempt, "status": str(run.status),
            "slot": run.slot.isoformat() if run.slot else None,
            "started_at": run.started_at.isoformat() if run.started_at else None,
            "finished_at": run.finished_at.isoformat() if run.finished_at else None,
            "parameters": run.parameters, "notebook_sha256": run.notebook_sha256,
            "profile": run.profile, "error": run.error}


def payload(event: str, job: Job, run: Run, **extra: Any) -> dict[str, Any]:
    """The JSON body: ``event`` is ``run.failed`` or ``run.drift``."""
    return {"event": event, "job": {"id": job.id, "name": job.name, "owner": job.owner},
            "run": _run_fields(run), **extra}


class Notifier:
    """Sends webhooks from a small thread pool, so a slow receiver never stalls a tick."""

    def __init__(self, allowed_hosts: Callable[[], Sequence[str]], *,
                 client: httpx.Client | None = None, timeout_s: float = TIMEOUT_S):
        self._allowed = allowed_hosts
        self._client = client or httpx.Client(timeout=timeout_s, follow_redirects=False,
                                              trust_env=False)
        self._pool = ThreadPoolExecutor(max_workers=2, thread_name_prefix="assay-webhook")

    def send(self, url: str, body: dict[str, Any]) -> bool:
        """POST now; True on a 2xx answer. Refusals and failures are logged, not raised."""
        try:
            check_webhook(url, self._allowed())
        except WebhookRefused as exc:
            log.warning("webhook not sent: %s", exc.user_message)
            return False
        try:
            response = self._client.post(url, json=body)
        except httpx.HTTPError as exc:
            log.warning("webhook to %s failed: %s", urlsplit(url).hostname, exc)
            return False
        if not response.is_success:
            log.warning("webhook to %s answered %d", urlsplit(url).hostname,
                        response.status_code)
        return response.is_success

    def notify(self, url: str, body: dict[str, Any]) -> Future[bool]:
        """``send`` in the background."""
        return self._pool.submit(self.send, url, body)

    def close(self) -> None:
        self._pool.shutdown(wait=True)
        self._client.close()
