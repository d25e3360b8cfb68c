"""Reading ``assay.yaml``: YAML errors, schema errors and cross-field errors, each
reported with its path (``profiles[2].gpus: must be >= 0, got -1``), all of a kind at once."""

from __future__ import annotations

import os
import unicodedata
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from ..errors import ConfigError
from .checks import semantic_errors
from .schema import PATTERN_HELP, AssayConfig

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
        elif part == "[key]":  # pydantic's marker for an invalid mapping key
            continue
        else:
            out += f".{part}" if out else str(part)
    return out or "(top level)"


def _got(value: Any) -> str:
    """A value as the admin wrote it in YAML."""
    if isinstance(value, str):
        return repr(value)
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return "an empty value"
    if isinstance(value, list) and not value:
        return "an empty list"
    return str(value)


def _number(value: Any) -> str:
    return f"{value:g}" if isinstance(value, float) else str(value)


def _non_ascii(value: str) -> str:
    """Name the first non-ASCII character, e.g. a Cyrillic look-alike of a Latin letter."""
    for char in value:
        if not char.isascii():
            name = unicodedata.name(char, "unnamed character")
            return f"; it contains the non-ASCII character {char!r} (U+{ord(char):04X} {name})"
    return ""


def _pattern(value: Any, pattern: str) -> str:
    described, max_length = PATTERN_HELP.get(pattern, (f"text matching {pattern}", None))
    text = f"must be {described}, got {_got(value)}"
    if isinstance(value, str):
        if max_length is not None and len(value) > max_length:
            text += f" ({len(value)} characters)"
        text += _non_ascii(value)
    return text


def _message(err: dict[str, Any], model_keys: list[str]) -> str:
    kind, ctx, value = err["type"], err.get("ctx", {}), err.get("input")
    simple = {
        "greater_than_equal": lambda: f"must be >= {_number(ctx.get('ge'))}, got {_got(value)}",
        "greater_than": lambda: f"must be > {_number(ctx.get('gt'))}, got {_got(value)}",
        "less_than_equal": lambda: f"must be <= {_number(ctx.get('le'))}, got {_got(value)}",
        "missing": lambda: "required but missing",
        "literal_error": lambda: f"must be one of {ctx.get('expected')}, got {_got(value)}",
        "string_pattern_mismatch": lambda: _pattern(value, ctx.get("pattern", "")),
        "too_short": lambda: f"must list at least {ctx.get('min_length')} item(s), "
        f"got {_got(value)}",
        # never echo the value: it may be a password
        "string_too_short": lambda: "must not be empty" if ctx.get("min_length") == 1 else
        f"must be at least {ctx.get('min_length')} characters, got {len(value)}",
        "string_too_long": lambda: f"must be at most {ctx.get('max_length')} characters, "
        f"got {len(value)}",
        "extra_forbidden": lambda: "unknown key. Valid keys: " + ", ".join(model_keys),
        "int_type": lambda: f"must be a whole number, got {_got(value)}",
        "int_parsing": lambda: f"must be a whole number, got {_got(value)}",
        "int_from_float": lambda: f"must be a whole number, got {_got(value)}",
        "float_type": lambda: f"must be a number, got {_got(value)}",
        "float_parsing": lambda: f"must be a number, got {_got(value)}",
        "finite_number": lambda: f"must be a finite number, got {_got(value)}",
        "string_type": lambda: f"must be text, got {_got(value)}",
        "bool_type": lambda: f"must be true or false, got {_got(value)}",
        "bool_parsing": lambda: f"must be true or false, got {_got(value)}",
        "list_type": lambda: f"must be a list, got {_got(value)}",
        "dict_type": lambda: f"must be a mapping of keys to values, got {_got(value)}",
        "model_type": lambda: f"must be a mapping of settings, got {_got(value)}",
    }
    if kind in simple:
        message = simple[kind]()
    elif kind == "value_error":
        message = str(ctx.get("error", err["msg"]))
    else:
        message = f"{err['msg'].lower()}, got {_got(value)}"
    if err["loc"] and err["loc"][-1] == "[key]":
        message = "invalid name: " + message
    return message


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


_KINDS = {list: "a list", str: "a single text value", int: "a number", float: "a number",
          bool: "true/false"}


class _Loader(yaml.SafeLoader):
    """PyYAML's safe loader, noting keys given twice in one mapping (YAML forbids them;
    PyYAML would silently keep the last one)."""

    def __init__(self, stream: str):
        super().__init__(stream)
        self.duplicates: list[str] = []

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict:
        first: dict[tuple[str, str], int] = {}
        for key_node, _ in node.value:
            if not isinstance(key_node, yaml.ScalarNode) or key_node.tag.endswith(":merge"):
                continue
            key, line = (key_node.tag, key_node.value), key_node.start_mark.line + 1
            if key in first:
                self.duplicates.append(
                    f"(yaml): key '{key_node.value}' appears twice in one mapping, at line "
                    f"{first[key]} and line {line}")
            first.setdefault(key, line)
        return super().construct_mapping(node, deep=deep)


def _read_yaml(text: str, source: str) -> tuple[Any, list[str]]:
    loader = _Loader(text)
    try:
        return loader.get_single_data(), loader.duplicates
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}" if mark else "unknown place"
        problem = getattr(exc, "problem", None)
        detail = f": {problem}" if problem else ""
        raise ConfigError(source, [f"(yaml): not valid YAML at {where}{detail}"]) from None
    finally:
        loader.dispose()


def parse(text: str, source: str = "<string>") -> AssayConfig:
    """Validate YAML text; raise ``ConfigError`` listing every problem.

    Cross-field rules (``checks.py``) need a schema-valid file, so they are reported
    once the schema errors are fixed.
    """
    data, errors = _read_yaml(text, source)
    if not isinstance(data, dict):
        got = "an empty file" if data is None else _KINDS.get(type(data), type(data).__name__)
        raise ConfigError(source, [f"(top level): must be a mapping of settings, got {got}"])
    try:
        config = AssayConfig.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(source, errors + schema_errors(exc)) from None
    errors += semantic_errors(config)
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
