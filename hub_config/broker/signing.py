"""Broker-signed short-lived URLs for files in local datasets.

A token is ``base64url(payload) + "." + base64url(HMAC-SHA256(secret, context + payload))``
where ``payload`` is compact JSON binding dataset, path, user, session and expiry. The
caller chooses ``expires_at`` (≤ 60 s ahead) and serves ``GET signed/{token}``.
Messages never echo the token.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import re
from dataclasses import dataclass

from assay.errors import Unauthorized

MIN_SECRET_BYTES = 32
MAX_TOKEN_LENGTH = 8192
_CONTEXT = b"assay-signed-url.v1:"  # a signature for this purpose and no other
_B64URL = re.compile(r"^[A-Za-z0-9_-]+$")
_FIELDS = {"d": str, "p": str, "u": str, "s": (str, type(None)), "e": int}
_INVALID = "Invalid signed URL; ask the data broker for a new one."
_EXPIRED = "This signed URL has expired; ask the data broker for a new one."


@dataclass(frozen=True)
class SignedGrant:
    """What a valid token allows: ``user`` may read ``path`` of ``dataset`` until
    ``expires_at`` (Unix seconds), on behalf of ``session_id`` (if any)."""

    dataset: str
    path: str
    user: str
    session_id: str | None
    expires_at: int


def _b64encode(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _b64decode(text: str) -> bytes:
    if not _B64URL.match(text):
        raise ValueError("not base64url")
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _mac(secret: bytes, payload_b64: str) -> bytes:
    return hmac.new(secret, _CONTEXT + payload_b64.encode("ascii"), hashlib.sha256).digest()


def _check_secret(secret: bytes) -> None:
    if not isinstance(secret, bytes) or len(secret) < MIN_SECRET_BYTES:
        raise ValueError(f"the signing secret must be at least {MIN_SECRET_BYTES} bytes")


def sign(secret: bytes, *, dataset: str, path: str, user: str, session_id: str | None,
         expires_at: int) -> str:
    """A URL-safe token for :func:`verify`."""
    _check_secret(secret)
    payload = {"d": dataset, "p": path, "u": user, "s": session_id, "e": expires_at}
    for key, kind in _FIELDS.items():
        if isinstance(payload[key], bool) or not isinstance(payload[key], kind):
            raise TypeError(f"bad type for signed field {key!r}: {type(payload[key]).__name__}")
    raw = json.dumps(payload, separators=(",", ":"), sort_keys=True, ensure_ascii=False)
    payload_b64 = _b64encode(raw.encode("utf-8"))
    return f"{payload_b64}.{_b64encode(_mac(secret, payload_b64))}"


def verify(secret: bytes, token: str, now: float) -> SignedGrant:
    """The grant of ``token``; raises :class:`Unauthorized` if it is malformed, not
    signed with ``secret``, or expired at ``now`` (Unix seconds)."""
    _check_secret(secret)
    if not isinstance(token, str) or len(token) > MAX_TOKEN_LENGTH or token.count(".") != 1:
        raise Unauthorized(_INVALID, "signed URL: malformed token")
    payload_b64, sig_b64 = token.split(".")
    try:
        signature = _b64decode(sig_b64)
        _b64decode(payload_b64)  # same alphabet rule for both parts
    except (ValueError, binascii.Error):
        raise Unauthorized(_INVALID, "signed URL: malformed token") from None
    if not hmac.compare_digest(_mac(secret, payload_b64), signature):
        raise Unauthorized(_INVALID, "signed URL: bad signature")
    try:
        payload = json.loads(_b64decode(payload_b64).decode("utf-8"))
    except (ValueError, UnicodeDecodeError):
        raise Unauthorized(_INVALID, "signed URL: undecodable payload") from None
    if not isinstance(payload, dict) or payload.keys() != _FIELDS.keys() or any(
        isinstance(payload[k], bool) or not isinstance(payload[k], kind)
        for k, kind in _FIELDS.items()
    ):
        raise Unauthorized(_INVALID, "signed URL: unexpected payload")
    grant = SignedGrant(dataset=payload["d"], path=payload["p"], user=payload["u"],
                        session_id=payload["s"], expires_at=payload["e"])
    if now >= grant.expires_at:
        raise Unauthorized(_EXPIRED, f"signed URL for {grant.user}: expired at "
                                     f"{grant.expires_at}, now {int(now)}")
    return grant
