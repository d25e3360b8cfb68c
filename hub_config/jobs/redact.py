"""Secret values out of a run's artifacts: every occurrence becomes ``[secret]``.

Besides the value itself, the forms it takes when shown are replaced too: ``repr`` and
JSON escapes, HTML escapes, and each line (8+ characters) of a multi-line value.
Notebook JSON is redacted after joining multi-line strings, so a value split over
lines of the file is still found. Light: nbformat is imported only when a notebook
actually contains a secret.
"""

from __future__ import annotations

import html
import json
import re
from collections.abc import Iterable
from pathlib import Path
from typing import Any

REDACTED = "[secret]"


class Redactor:
    """Replaces secret values (and their escaped forms) by ``[secret]``."""

    def __init__(self, values: Iterable[str]):
        forms: set[str] = set()
        for value in values:
            if not value:
                continue
            forms |= {value, repr(value)[1:-1], json.dumps(value)[1:-1],
                      json.dumps(value, ensure_ascii=False)[1:-1],
                      html.escape(value), html.escape(value, quote=False)}
            # a multi-line value (a key file) may be shown a line at a time
            forms |= {line.strip() for line in value.splitlines() if len(line.strip()) >= 8}
        forms.discard("")
        ordered = sorted(forms, key=len, reverse=True)
        self._pattern = re.compile("|".join(map(re.escape, ordered))) if ordered else None
        needles = {json.dumps(f, ensure_ascii=False)[1:-1] for f in forms}
        self._needles = re.compile("|".join(map(re.escape, sorted(needles, key=len,
                                                                  reverse=True)))) \
            if needles else None

    def __bool__(self) -> bool:
        return self._pattern is not None

    def text(self, text: str) -> str:
        return self._pattern.sub(REDACTED, text) if self._pattern else text

    def value(self, value: Any) -> Any:
        """``value`` (JSON-like) with every string redacted; dict keys kept."""
        if isinstance(value, str):
            return self.text(value)
        if isinstance(value, dict):
            return {k: self.value(v) for k, v in value.items()}
        if isinstance(value, list):
            return [self.value(v) for v in value]
        return value

    def notebook_json(self, buf: str) -> str:
        """A notebook's JSON text, redacted (multi-line strings joined first)."""
        if not self._needles or not self._needles.search(buf):
            return buf
        import nbformat
        from nbformat.v4.rwbase import rejoin_lines

        nb = rejoin_lines(nbformat.from_dict(json.loads(buf)))
        return nbformat.v4.writes(nbformat.from_dict(self.value(nb)))

    def file(self, path: Path, *, notebook: bool = False) -> None:
        """Redact a text file in place (a notebook structurally, keeping it valid)."""
        if not self or not path.is_file():
            return
        text = path.read_text(encoding="utf-8", errors="replace")
        clean = self.notebook_json(text) if notebook else self.text(text)
        if clean != text:
            path.write_text(clean, encoding="utf-8")
