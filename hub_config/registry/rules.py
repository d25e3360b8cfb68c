"""The registry's pure rules: names, request fields, classification inheritance.

No I/O here. Every refusal is an ``InvalidModelRequest`` naming the field, the value
(a safe, truncated repr) and the rule, e.g. ``name: 'churn/../x' is not a valid model
name: use 1-64 lowercase ASCII letters, ...``.
"""

from __future__ import annotations

import json
import math
import re
import unicodedata
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from ..config.catalog import CLASSES, rank
from ..errors import InvalidModelRequest, InvalidObjectKey, RegistryTooLarge
from ..objects.base import check_key

NAME_PATTERN = re.compile(r"[a-z0-9]([a-z0-9._-]{0,62}[a-z0-9])?")
NAME_RULE = ("1-64 lowercase ASCII letters, digits, '.', '_' and '-', starting and ending "
             "with a letter or digit")
FLAVORS = ("skops", "torch-state-dict", "joblib", "pickle")
UNSAFE_FLAVORS = ("joblib", "pickle")
MAX_DESCRIPTION = 2000
MAX_METRICS = 100
MAX_METRIC_NAME = 128
MAX_JSON = 64 * 1024  # params, signature, environment: each as compact JSON
MAX_FILES = 1000
MAX_PATH = 512
MAX_TEXT = 1024  # notebook path
MAX_SHORT = 255  # kernel session, python version, digests
GIT_COMMIT = re.compile(r"[0-9a-f]{7,64}")
SHA256 = re.compile(r"[0-9a-f]{64}")
LATEST_WORD = "latest"  # a version reference: the highest ready version
DEFAULT_CLASS = "internal"  # a version with no recorded inputs
CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")
SHOWN = 80


def shown(value: object, limit: int = SHOWN) -> str:
    """A client-supplied value made safe to echo: repr, truncated."""
    if isinstance(value, str) and len(value) > limit:
        return repr(value[:limit]) + "…"
    text = repr(value)
    return text if len(text) <= limit + 2 else text[:limit] + "…"


def refuse(field: str, value: object, rule: str, what: str | None = None) -> InvalidModelRequest:
    """The error for one bad field: ``field: value what; rule``."""
    what = what or "is not valid"
    return InvalidModelRequest(f"{field}: {shown(value)} {what}; {rule}.", field=field,
                               value=shown(value), rule=rule)


def _non_ascii_hint(value: str) -> str | None:
    for char in value:
        if ord(char) > 127:
            name = unicodedata.name(char, "unnamed character")
            return f"contains the non-ASCII character U+{ord(char):04X} ({name})"
    return None


def check_name(value: object, field: str = "name") -> str:
    """A model or alias name: ``NAME_RULE``; anything else (empty, too long, look-alikes
    such as Cyrillic 'а', '/', '..', upper case) is refused naming the field."""
    if not isinstance(value, str):
        raise refuse(field, value, f"use {NAME_RULE}", "is not a string")
    if NAME_PATTERN.fullmatch(value):
        return value
    if not value:
        what = "is empty"
    elif len(value) > 64:
        what = f"is {len(value)} characters long (at most 64)"
    else:
        what = _non_ascii_hint(value) or "is not a valid name"
    raise refuse(field, value, f"use {NAME_RULE}", what)


def check_version_ref(value: str) -> int | str:
    """``3`` → 3; ``latest`` or an alias name stays a name."""
    if value.isdigit() and value.isascii():
        number = int(value)
        if 0 < number < 2**31:
            return number
        raise refuse("version", value, "versions are numbered from 1", "is out of range")
    return check_name(value, "version")


def check_classification(value: object, field: str = "classification") -> str | None:
    if value is None:
        return None
    if value not in CLASSES:
        raise refuse(field, value, "use one of " + ", ".join(CLASSES))
    return str(value)


# -- request bodies --------------------------------------------------------------------


def _text(body: Mapping, field: str, limit: int, *, required: bool = False) -> str | None:
    value = body.get(field)
    if value is None and not required:
        return None
    if not isinstance(value, str):
        raise refuse(field, value, f"text of at most {limit} characters", "is not text")
    if len(value) > limit:
        raise refuse(field, value, f"at most {limit} characters",
                     f"is {len(value)} characters long")
    if CONTROL.search(value):
        raise refuse(field, value, "no control characters besides tab and newline",
                     "contains a control character")
    return value


def _json_object(body: Mapping, field: str, *, nullable: bool = True) -> dict | None:
    value = body.get(field)
    if value is None and nullable:
        return None
    if not isinstance(value, dict):
        raise refuse(field, value, "a JSON object", "is not a JSON object")
    size = len(json.dumps(value, separators=(",", ":")).encode())
    if size > MAX_JSON:
        raise refuse(field, "…", f"at most {MAX_JSON // 1024} KiB as JSON",
                     f"is {size} bytes as JSON")
    return value


def check_metrics(value: object) -> dict[str, float]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise refuse("metrics", value, "an object of metric name -> number",
                     "is not an object")
    if len(value) > MAX_METRICS:
        raise refuse("metrics", f"{len(value)} entries", f"at most {MAX_METRICS} metrics",
                     "has too many entries")
    out = {}
    for key, number in value.items():
        if not key or len(key) > MAX_METRIC_NAME or CONTROL.search(key):
            raise refuse("metrics", key, f"metric names of 1-{MAX_METRIC_NAME} characters "
                         "without control characters", "is not a valid metric name")
        if isinstance(number, bool) or not isinstance(number, int | float) \
                or not math.isfinite(number):
            raise refuse(f"metrics.{key}", number, "a finite number",
                         "is not a finite number")
        out[key] = float(number) if isinstance(number, float) else number
    return out


@dataclass(frozen=True)
class DeclaredFile:
    path: str
    size: int


def check_file_path(value: object, field: str = "files.path") -> str:
    """An artifact path: relative, '/'-separated segments of ``[A-Za-z0-9._-]`` (no
    segment starting with '.'), at most 512 characters."""
    rule = ("a relative path of ASCII letters, digits, '.', '_', '-' and '/', no segment "
            f"starting with '.', at most {MAX_PATH} characters")
    if not isinstance(value, str) or len(value) > MAX_PATH:
        raise refuse(field, value, rule)
    try:
        return check_key(value)
    except InvalidObjectKey:
        raise refuse(field, value, rule) from None


def check_files(value: object, max_file: int, max_total: int) -> list[DeclaredFile]:
    """The declared artifact files; sizes over the limits raise ``RegistryTooLarge``."""
    if not isinstance(value, list) or not 0 < len(value) <= MAX_FILES:
        raise refuse("files", value if not isinstance(value, list) else f"{len(value)} files",
                     f"a list of 1-{MAX_FILES} objects {{path, size}}")
    out: list[DeclaredFile] = []
    for item in value:
        if not isinstance(item, dict) or set(item) - {"path", "size"}:
            raise refuse("files", item, "each file is an object {path, size}")
        path = check_file_path(item.get("path"))
        size = item.get("size")
        if isinstance(size, bool) or not isinstance(size, int) or size < 0:
            raise refuse("files.size", size, "a whole number of bytes >= 0")
        if size > max_file:
            raise RegistryTooLarge(f"files: {path!r} is {size} bytes; the limit per file is "
                                f"{max_file} bytes (models.max_file_size).", field="files",
                                value=shown(path), rule=f"at most {max_file} bytes per file")
        if any(f.path == path for f in out):
            raise refuse("files.path", path, "each path once", "is declared twice")
        out.append(DeclaredFile(path, size))
    total = sum(f.size for f in out)
    if total > max_total:
        raise RegistryTooLarge(f"files: {total} bytes in all; the limit per version is "
                            f"{max_total} bytes (models.max_version_size).", field="files",
                            rule=f"at most {max_total} bytes per version")
    return out


def _environment(body: Mapping) -> dict | None:
    env = _json_object(body, "environment")
    if env is None:
        return None
    unknown = sorted(set(env) - {"python", "packages_digest", "packages"})
    if unknown:
        raise refuse(f"environment.{unknown[0]}", unknown[0],
                     "environment has python, packages_digest and packages", "is unknown")
    for key in ("python", "packages_digest"):
        _text(env, key, MAX_SHORT)
    packages = env.get("packages")
    if packages is not None and not isinstance(packages, list | dict):
        raise refuse("environment.packages", packages, "a list or an object")
    return env


def _notebook(body: Mapping) -> dict | None:
    value = body.get("notebook")
    if value is None:
        return None
    if not isinstance(value, dict) or set(value) - {"path", "kernel_session"}:
        raise refuse("notebook", value, "an object {path, kernel_session}")
    _text(value, "path", MAX_TEXT)
    _text(value, "kernel_session", MAX_SHORT)
    return {"path": value.get("path"), "kernel_session": value.get("kernel_session")}


REGISTER_FIELDS = frozenset({
    "description", "metrics", "params", "signature", "environment", "notebook",
    "git_commit", "flavor", "classification", "files"})


@dataclass(frozen=True)
class Registration:
    """A checked ``POST models/{name}/versions`` body."""

    description: str
    metrics: dict[str, float]
    params: dict
    signature: dict | None
    environment: dict | None
    notebook: dict | None
    git_commit: str | None
    flavor: str
    classification: str | None
    files: list[DeclaredFile]


def check_registration(body: Mapping[str, Any], max_file: int, max_total: int
                       ) -> Registration:
    unknown = sorted(set(body) - REGISTER_FIELDS)
    if unknown:
        raise refuse(unknown[0], unknown[0], "valid fields are " + ", ".join(
            sorted(REGISTER_FIELDS)), "is not a field of a registration")
    flavor = body.get("flavor")
    if flavor not in FLAVORS:
        raise refuse("flavor", flavor, "use one of " + ", ".join(FLAVORS))
    commit = body.get("git_commit")
    if commit is not None and (not isinstance(commit, str) or not GIT_COMMIT.fullmatch(commit)):
        raise refuse("git_commit", commit, "7-64 lowercase hex digits")
    return Registration(
        description=_text(body, "description", MAX_DESCRIPTION) or "",
        metrics=check_metrics(body.get("metrics")),
        params=_json_object(body, "params") or {},
        signature=_json_object(body, "signature"),
        environment=_environment(body), notebook=_notebook(body), git_commit=commit,
        flavor=flavor, classification=check_classification(body.get("classification")),
        files=check_files(body.get("files"), max_file, max_total))


def check_commit(body: Mapping[str, Any], declared: Sequence[str]) -> dict[str, str]:
    """``{"files": {path: sha256}}`` naming exactly the declared files."""
    files = body.get("files")
    if not isinstance(files, dict):
        raise refuse("files", files, "an object of path -> sha256 (hex)")
    for path, digest in files.items():
        if path not in declared:
            raise refuse("files", path, "name only the files declared at registration: "
                         + ", ".join(declared), "was not declared")
        if not isinstance(digest, str) or not SHA256.fullmatch(digest):
            raise refuse(f"files.{path}", digest, "64 lowercase hex digits (sha256)")
    missing = [p for p in declared if p not in files]
    if missing:
        raise refuse("files", missing[0], "give the sha256 of every declared file",
                     "has no sha256")
    return dict(files)


# -- classification --------------------------------------------------------------------


@dataclass(frozen=True)
class Input:
    """A dataset a version was derived from, with its class at registration."""

    dataset: str
    classification: str


def inherit(inputs: Sequence[Input], requested: str | None) -> str:
    """The version's class: the highest of its inputs (``internal`` without inputs), or
    the requested one when higher. A requested class lower than that is refused: a
    version's class cannot be lowered."""
    top = max(inputs, key=lambda i: rank(i.classification), default=None)
    inherited = top.classification if top else DEFAULT_CLASS
    if requested is None or rank(requested) >= rank(inherited):
        return requested or inherited
    source = (f"inherited from dataset {top.dataset!r}" if top else
              "the class of a model with no recorded inputs")
    message = (f"classification {requested!r} is lower than {inherited!r} {source}; a "
               "version's class cannot be lowered")
    raise InvalidModelRequest(message + ".", field="classification", value=repr(requested),
                              rule=f"at least {inherited!r}")
