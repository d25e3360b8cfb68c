"""Reading ``assay.yaml``: YAML errors, schema errors and cross-field errors,
all reported at once with their paths (``profiles[2].gpus: must be >= 0, got -1``)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from ..errors import ConfigError
from .checks import semantic_errors
from .schema import AssayConfig

ENV_PATH = "ASSAY_CONFIG"
MAX_BYTES = 1024 * 1024


def default_path() -> Path:
    """``$ASSAY_CONFIG`` if set, else the ``assay.yaml`` shipped beside this package."""
    env = os.environ.get(ENV_PATH)
    if env:
        return Path(env)
    return Path(__file__).resolve().parent.parent / "assay.yaml"


def format_path(loc: tuple[Any, ...]) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out or "(top level)"


def _got(value: Any) -> str:
    return repr(value) if isinstance(value, str) else str(value)


def _message(err: dict[str, Any], model_keys: list[str]) -> str:
    kind, ctx, value = err["type"], err.get("ctx", {}), err.get("input")
    simple = {
        "greater_than_equal": lambda: f"must be >= {ctx.get('ge')}, got {_got(value)}",
        "greater_than": lambda: f"must be > {ctx.get('gt')}, got {_got(value)}",
        "less_than_equal": lambda: f"must be <= {ctx.get('le')}, got {_got(value)}",
        "missing": lambda: "required but missing",
        "literal_error": lambda: f"must be one of {ctx.get('expected')}, got {_got(value)}",
        "string_pattern_mismatch": lambda: f"invalid value {_got(value)} "
        f"(must match {ctx.get('pattern')})",
        "too_short": lambda: f"must have at least {ctx.get('min_length')} item(s)",
        "string_too_short": lambda: f"must not be empty, got {_got(value)}",
        "string_too_long": lambda: f"must be at most {ctx.get('max_length')} characters",
        "extra_forbidden": lambda: "unknown key. Valid keys: " + ", ".join(model_keys),
    }
    if kind in simple:
        return simple[kind]()
    if kind == "value_error":
        return str(ctx.get("error", err["msg"]))
    return f"{err['msg'].lower()}, got {_got(value)}"


def _valid_keys(loc: tuple[Any, ...]) -> list[str]:
    """The keys allowed at the parent of ``loc`` (for unknown-key errors)."""
    model: Any = AssayConfig
    for part in loc[:-1]:
        if isinstance(part, int):
            continue
        field = getattr(model, "model_fields", {}).get(part)
        if field is None:
            return []
        annotation = field.annotation
        for candidate in (annotation, *getattr(annotation, "__args__", ())):
            inner = getattr(candidate, "__args__", (candidate,))
            found = [c for c in (candidate, *inner) if hasattr(c, "model_fields")]
            if found:
                model = found[0]
                break
        else:
            return []
    return sorted(model.model_fields)


def schema_errors(exc: ValidationError) -> list[str]:
    out = []
    for err in exc.errors():
        loc = tuple(p for p in err["loc"] if p not in ("function-after",))
        out.append(f"{format_path(loc)}: {_message(err, _valid_keys(loc))}")
    return out


def parse(text: str, source: str = "<string>") -> AssayConfig:
    """Validate YAML text; raise ``ConfigError`` listing every problem."""
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}" if mark else "unknown place"
        raise ConfigError(source, [f"(yaml): not valid YAML at {where}"]) from None
    if not isinstance(data, dict):
        got = type(data).__name__ if data is not None else "an empty file"
        raise ConfigError(source, [f"(top level): must be a mapping of settings, got {got}"])
    try:
        config = AssayConfig.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(source, schema_errors(exc)) from None
    errors = semantic_errors(config)
    if errors:
        raise ConfigError(source, errors)
    return config


def load(path: str | os.PathLike[str] | None = None) -> AssayConfig:
    """Load and validate the admin config file (``$ASSAY_CONFIG`` by default)."""
    file = Path(path) if path else default_path()
    try:
        raw = file.read_bytes()
    except OSError as exc:
        raise ConfigError(str(file), [f"(file): cannot read: {exc.strerror}"]) from None
    if len(raw) > MAX_BYTES:
        raise ConfigError(str(file), [f"(file): larger than {MAX_BYTES} bytes"])
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise ConfigError(str(file), ["(file): not UTF-8 text"]) from None
    return parse(text, str(file))
