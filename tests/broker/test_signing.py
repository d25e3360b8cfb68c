"""Broker-signed URLs for local files: HMAC-bound payload, expiry, malformed tokens."""

from __future__ import annotations

import base64
import json
import re

import pytest

from assay.broker.signing import SignedGrant, sign, verify
from assay.errors import Unauthorized

SECRET = b"s" * 32
NOW = 1_800_000_000


def _token(**overrides) -> str:
    fields = {"dataset": "trial-042", "path": "sub/b.txt", "user": "alice",
              "session_id": "sess-1", "expires_at": NOW + 30, **overrides}
    return sign(SECRET, **fields)


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _refused(token: object, *, now: float = NOW, secret: bytes = SECRET) -> Unauthorized:
    with pytest.raises(Unauthorized) as caught:
        verify(secret, token, now)  # type: ignore[arg-type]
    err = caught.value
    assert err.status_code == 401 and err.error == "unauthorized"
    if isinstance(token, str) and len(token) > 3:
        assert token not in err.user_message and token not in err.log_detail
        for part in token.split("."):
            if len(part) > 3:
                assert part not in err.user_message
    return err


def test_round_trip() -> None:
    token = _token()
    assert re.fullmatch(r"[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+", token)
    assert verify(SECRET, token, NOW) == SignedGrant(
        dataset="trial-042", path="sub/b.txt", user="alice", session_id="sess-1",
        expires_at=NOW + 30)


def test_round_trip_without_session_and_with_unicode() -> None:
    token = _token(session_id=None, path="données/é.csv", user="bö")
    grant = verify(SECRET, token, NOW + 29.999)
    assert grant.session_id is None and grant.path == "données/é.csv" and grant.user == "bö"


def test_expired() -> None:
    token = _token()
    assert verify(SECRET, token, NOW + 29).expires_at == NOW + 30
    err = _refused(token, now=NOW + 30)
    assert "expired" in err.user_message
    _refused(token, now=NOW + 10_000)


def test_wrong_secret() -> None:
    _refused(_token(), secret=b"t" * 32)


def test_tampered_payload() -> None:
    payload_b64, sig = _token().split(".")
    payload = json.loads(_unb64(payload_b64))
    for key, value in (("p", "secret.csv"), ("u", "mallory"), ("d", "other"), ("s", None),
                       ("e", NOW + 3600)):
        forged = _b64(json.dumps({**payload, key: value}, separators=(",", ":")).encode())
        _refused(f"{forged}.{sig}")
    # the same payload, re-encoded differently (padding, spacing), is not the signed text
    _refused(f"{payload_b64}==.{sig}")
    spaced = _b64(json.dumps(payload).encode())
    _refused(f"{spaced}.{sig}")


def test_tampered_signature() -> None:
    payload_b64, sig = _token().split(".")
    flipped = ("A" if sig[0] != "A" else "B") + sig[1:]
    _refused(f"{payload_b64}.{flipped}")
    _refused(f"{payload_b64}.{sig[:-2]}")
    _refused(f"{payload_b64}.{sig}AA")
    _refused(f"{payload_b64}.{sig}!")  # lenient base64 would drop the '!'
    _refused(f"{payload_b64}.")


def test_token_is_bound_to_its_path() -> None:
    token_a = _token(path="a.csv")
    token_b = _token(path="b.csv")
    assert verify(SECRET, token_a, NOW).path == "a.csv"
    assert verify(SECRET, token_b, NOW).path == "b.csv"
    _refused(token_a.split(".")[0] + "." + token_b.split(".")[1])
    _refused(token_b.split(".")[0] + "." + token_a.split(".")[1])


@pytest.mark.parametrize("token", [
    "", ".", "..", "abc", "abc.def", "a.b.c", "!!!.???", "x" * 10_000, "é.é",
    "eyJhIjoxfQ.eyJhIjoxfQ", None, b"abc.def", 42,
])
def test_garbage_refused(token: object) -> None:
    _refused(token)


def test_signed_garbage_payload_refused() -> None:
    """Even a correctly signed payload must have exactly the expected fields and types."""
    from assay.broker import signing

    for payload in (b"not json", b"[]", b'{"d":"x"}', b"\xff\xfe",
                    b'{"d":"x","p":"y","u":"z","s":null,"e":"1"}',
                    b'{"d":"x","p":"y","u":"z","s":null,"e":true}',
                    b'{"d":"x","p":"y","u":"z","s":null,"e":9999999999,"x":1}'):
        payload_b64 = _b64(payload)
        _refused(f"{payload_b64}.{_b64(signing._mac(SECRET, payload_b64))}")


def test_short_secret_refused() -> None:
    with pytest.raises(ValueError):
        sign(b"short", dataset="d", path="p", user="u", session_id=None, expires_at=NOW)
    with pytest.raises(ValueError):
        verify(b"short", _token(), NOW)


def test_sign_checks_field_types() -> None:
    with pytest.raises(TypeError):
        _token(expires_at=float(NOW))
    with pytest.raises(TypeError):
        _token(path=None)
