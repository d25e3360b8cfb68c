"""The one place that validates a client-supplied file path inside a dataset.

The web layer has URL-decoded the path once. What is left must be a plain relative
path: '/'-separated, no ``.``/``..``/empty segments, no backslashes, no control or
invisible format characters, no percent escapes (a second decoding would turn
``%2e%2e`` into ``..``), and already in Unicode NFC (no look-alike normalisation tricks).
"""

from __future__ import annotations

import re
import unicodedata

from assay.errors import InvalidPath

MAX_PATH_LENGTH = 1024
_SHOWN = 80  # characters of a refused value shown in a message
_PERCENT_ESCAPE = re.compile(r"%[0-9A-Fa-f]{2}")
# Cc: control (NUL, CR, LF, DEL, C1); Cf: invisible format (bidi overrides, zero-width);
# Cs: lone surrogates (undecodable bytes smuggled through surrogateescape).
_REFUSED_CATEGORIES = frozenset({"Cc", "Cf", "Cs"})


def shown(raw: object) -> str:
    """``repr`` of a refused value, truncated: safe to put in a message or a log line."""
    if isinstance(raw, str) and len(raw) > _SHOWN:
        return repr(raw[:_SHOWN]) + f"… ({len(raw)} characters)"
    return repr(raw)


def _refuse(raw: object, why: str) -> InvalidPath:
    return InvalidPath(f"Invalid file path {shown(raw)}: {why}.")


def clean_path(raw: str) -> str:
    """Return ``raw`` as a normalised relative path, or raise :class:`InvalidPath`."""
    if not isinstance(raw, str):
        raise _refuse(raw, "not a string")
    if not raw:
        raise _refuse(raw, "empty")
    if len(raw) > MAX_PATH_LENGTH:
        raise _refuse(raw, f"longer than {MAX_PATH_LENGTH} characters")
    if any(unicodedata.category(ch) in _REFUSED_CATEGORIES for ch in raw):
        raise _refuse(raw, "control or invisible characters are not allowed")
    if "\\" in raw:
        raise _refuse(raw, "backslashes are not allowed; use '/'")
    if _PERCENT_ESCAPE.search(raw):
        raise _refuse(raw, "percent-encoded characters are not allowed")
    if unicodedata.normalize("NFC", raw) != raw:
        raise _refuse(raw, "not in Unicode normal form NFC")
    if raw.startswith("/"):
        raise _refuse(raw, "absolute paths are not allowed")
    for segment in raw.split("/"):
        if segment in ("", ".", ".."):
            raise _refuse(raw, "'.', '..' and empty segments are not allowed")
    return raw


def is_clean(raw: str) -> bool:
    """``True`` if :func:`clean_path` accepts ``raw`` unchanged (used to filter listings)."""
    try:
        return clean_path(raw) == raw
    except InvalidPath:
        return False
