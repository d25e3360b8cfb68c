"""The model registry's part of the OpenAPI document (``api/v1/models…``)."""

from __future__ import annotations

from typing import Any

CLASS = {"enum": ["public", "internal", "confidential", "restricted"]}
ERROR = {"$ref": "#/components/schemas/Error"}
DENIED = {"$ref": "#/components/schemas/Denied"}
TEXTS = {400: "Bad request (names the field, the value and the rule)",
         401: "No valid credential", 403: "Refused", 404: "Not found",
         409: "Conflict (state, hash mismatch)", 413: "Too large"}
NAME_RULE = ("1-64 lowercase ASCII letters, digits, '.', '_', '-', starting and ending with "
             "a letter or digit")


def _path(name: str, description: str, pattern: str | None = None) -> dict:
    schema: dict[str, Any] = {"type": "string"}
    if pattern:
        schema["pattern"] = pattern
    return {"name": name, "in": "path", "required": True, "schema": schema,
            "description": description}


MODEL = _path("name", "model name: " + NAME_RULE, r"^[a-z0-9]([a-z0-9._-]{0,62}[a-z0-9])?$")
VERSION = _path("version", "a version number")
REF = _path("ref", "a version number, 'latest' or an alias")
ALIAS = _path("alias", "alias name: " + NAME_RULE)
FILE = _path("path", "artifact path as declared at registration")
QUERY = [{"name": n, "in": "query", "schema": {"type": t}}
         for n, t in (("limit", "integer"), ("offset", "integer"))]


def _json(schema: dict, description: str = "OK") -> dict:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def _op(summary: str, ok: dict, *errors: int, status: str = "200",
        params: list | None = None, body: dict | None = None, **extra: Any) -> dict:
    op: dict[str, Any] = {
        "summary": summary, "tags": ["models"], "parameters": params or [],
        "responses": {status: ok, **{str(c): _json(DENIED if c == 403 else ERROR, TEXTS[c])
                                     for c in (401, *errors)}}, **extra}
    if body is not None:
        op["requestBody"] = {"required": True, "content": {"application/json": {
            "schema": body}}}
    return op


def _ref(name: str) -> dict:
    return {"$ref": f"#/components/schemas/{name}"}


OBJ = {"type": "object"}
REGISTER = {"type": "object", "required": ["flavor", "files"], "properties": {
    "description": {"type": "string", "maxLength": 2000},
    "metrics": {"type": "object", "additionalProperties": {"type": "number"},
                "maxProperties": 100},
    "params": {"type": "object", "description": "at most 64 KiB as JSON"},
    "signature": {"type": ["object", "null"]},
    "environment": {"type": ["object", "null"], "properties": {
        "python": {"type": "string"}, "packages_digest": {"type": "string"},
        "packages": {"type": ["array", "object"]}}},
    "notebook": {"type": ["object", "null"], "properties": {
        "path": {"type": "string"}, "kernel_session": {"type": "string"}}},
    "git_commit": {"type": ["string", "null"], "pattern": "^[0-9a-f]{7,64}$"},
    "flavor": {"enum": ["skops", "torch-state-dict", "joblib", "pickle"]},
    "classification": {**CLASS, "description": "may only raise the inherited class"},
    "files": {"type": "array", "minItems": 1, "items": {
        "type": "object", "required": ["path", "size"], "properties": {
            "path": {"type": "string"}, "size": {"type": "integer", "minimum": 0}}}}},
    "additionalProperties": False}
ALIAS_BODY = {"type": "object", "required": ["version"], "properties": {
    "version": {"type": ["integer", "null"], "minimum": 1}}}

SCHEMAS: dict[str, Any] = {
    "ModelVersion": {"type": "object", "required": ["name", "version", "status"],
                     "properties": {
                         "name": {"type": "string"}, "version": {"type": "integer"},
                         "status": {"enum": ["pending", "ready"]},
                         "registrant": {"type": "string"}, "created": {"type": "string"},
                         "classification": CLASS, "flavor": {"type": "string"},
                         "lineage": {"type": "object", "properties": {
                             "datasets": {"type": "array", "items": {
                                 "type": "object", "properties": {
                                     "name": {"type": "string"},
                                     "classification": CLASS}}},
                             "run": {"type": ["integer", "null"]}}},
                         "files": {"type": "array", "items": {
                             "type": "object", "properties": {
                                 "path": {"type": "string"}, "size": {"type": "integer"},
                                 "sha256": {"type": ["string", "null"]}}}},
                         "aliases": {"type": "array", "items": {"type": "string"}},
                         "url": {"type": "string", "description": "the version's page"}}},
    "ModelSummary": {"type": "object", "properties": {
        "name": {"type": "string"}, "latest_version": {"type": ["integer", "null"]},
        "versions": {"type": "integer"}, "aliases": {"type": "object"},
        "classification": CLASS, "updated": {"type": "string"}}},
    "Approval": {"type": "object", "properties": {
        "approval": {"type": "integer"}, "alias": {"type": "string"},
        "version": {"type": ["integer", "null"]}, "requested_by": {"type": "string"},
        "status": {"enum": ["pending", "approved", "superseded"]}}},
}

BASE = "/models/{name}"
MODEL_PATHS: dict[str, Any] = {
    "/models": {"get": _op(
        "Models with a ready version; q searches names and descriptions",
        _json({"type": "object", "properties": {
            "models": {"type": "array", "items": _ref("ModelSummary")},
            "total": {"type": "integer"}}}), 400,
        params=[{"name": "q", "in": "query", "schema": {"type": "string"}}, *QUERY])},
    BASE: {"get": _op("A model: its versions (newest first), aliases, pending approvals",
                      _json(OBJ), 400, 404, params=[MODEL, *QUERY])},
    f"{BASE}/versions": {"post": _op(
        "Register a pending version; lineage and class are computed by the service",
        _json(_ref("ModelVersion"), "Created (with 'upload', the files' URL prefix)"),
        400, 403, 413, status="201", params=[MODEL], body=REGISTER)},
    f"{BASE}/versions/{{ref}}": {"get": _op("One version", _json(_ref("ModelVersion")),
                                            400, 404, params=[MODEL, REF])},
    f"{BASE}/versions/{{version}}/commit": {"post": _op(
        "Commit: every declared file uploaded with the declared sha256 -> ready",
        _json(_ref("ModelVersion")), 400, 403, 404, 409, params=[MODEL, VERSION],
        body={"type": "object", "required": ["files"], "properties": {"files": {
            "type": "object", "additionalProperties": {"type": "string"}}}})},
    f"{BASE}/versions/{{ref}}/files/{{path}}": {
        "put": _op("Upload an artifact (raw body, streamed; registrant, pending only)",
                   _json({"type": "object", "properties": {
                       "path": {"type": "string"}, "size": {"type": "integer"},
                       "sha256": {"type": "string"}}}), 400, 403, 404, 409, 413,
                   params=[MODEL, REF, FILE],
                   requestBody={"required": True,
                                "content": {"application/octet-stream": {}}}),
        "get": _op("Download an artifact (audited; only if you may read every input, in "
                   "a zone that allows the class); X-Assay-Sha256 has the recorded hash",
                   {"description": "The bytes", "content": {"application/octet-stream": {}}},
                   400, 403, 404, 409, params=[MODEL, REF, FILE])},
    f"{BASE}/aliases/{{alias}}": {
        "put": _op("Point an alias at a version; a protected alias (production) needs "
                   "approval: 202 with the pending request", _json(OBJ), 400, 403, 404,
                   409, params=[MODEL, ALIAS], body=ALIAS_BODY),
        "delete": _op("Remove an alias (protected: approval, or an admin)", _json(OBJ),
                      400, 403, 404, params=[MODEL, ALIAS])},
    f"{BASE}/aliases/{{alias}}/approve": {"post": _op(
        "Approve the pending request (not by the version's registrant)", _json(OBJ),
        400, 403, 404, 409, params=[MODEL, ALIAS], body=ALIAS_BODY)},
}
for _method in ("put", "delete"):
    MODEL_PATHS[f"{BASE}/aliases/{{alias}}"][_method]["responses"]["202"] = _json(
        _ref("Approval"), "A protected alias: approval requested")
