"""The broker's REST API as an OpenAPI 3.1 document (served at ``api/v1/openapi.json``)."""

from __future__ import annotations

from typing import Any

ERROR = {"$ref": "#/components/schemas/Error"}
DENIED = {"$ref": "#/components/schemas/Denied"}
NAME = {"name": "name", "in": "path", "required": True, "schema": {"type": "string"}}
PATH = {"name": "path", "in": "path", "required": True, "schema": {"type": "string"}}


def _json(schema: dict, description: str = "OK") -> dict:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def _errors(*codes: int) -> dict:
    texts = {400: "Bad request", 401: "No valid credential", 403: "Access denied",
             404: "Not found", 413: "Request too large", 416: "Range not satisfiable"}
    return {str(c): _json(DENIED if c == 403 else ERROR, texts[c]) for c in codes}


def _op(summary: str, ok: dict, *errors: int, params: list | None = None, **extra: Any) -> dict:
    return {"summary": summary, "parameters": params or [],
            "responses": {"200": ok, **_errors(*errors)}, **extra}


DATASET = {"type": "object", "required": ["name", "classification", "can_read"], "properties": {
    "name": {"type": "string"}, "description": {"type": "string"},
    "classification": {"enum": ["public", "internal", "confidential", "restricted"]},
    "zone": {"type": ["string", "null"]}, "groups": {"type": "array"},
    "owners": {"type": "array"}, "approver": {"type": "string"},
    "can_read": {"type": "boolean"}, "missing": {"type": "array"},
    "message": {"type": "string"}, "ask": {"type": "string"}}}

PATHS: dict[str, Any] = {
    "/whoami": {"get": _op("Who the broker thinks you are", _json({"type": "object"}), 401)},
    "/datasets": {"get": _op("Every dataset, with whether you may read it and why not",
                             _json({"type": "object", "properties": {
                                 "datasets": {"type": "array", "items": DATASET}}}), 401)},
    "/datasets/{name}": {"get": _op("One dataset", _json(DATASET), 401, 404, params=[NAME])},
    "/datasets/{name}/files": {"get": _op("Files of a dataset you may read",
                                          _json({"type": "object"}), 401, 403, 404,
                                          params=[NAME])},
    "/datasets/{name}/files/{path}": {"get": {
        **_op("Stream a file (Range supported); audited before the first byte",
              {"description": "The bytes", "content": {"application/octet-stream": {}}},
              400, 401, 403, 404, 416, params=[NAME, PATH,
                                               {"name": "Range", "in": "header",
                                                "schema": {"type": "string"}}]),
        "x-partial": {"206": "Partial content for a Range request"}}},
    "/datasets/{name}/files/{path}/signed-url": {"post": _op(
        "A short-lived URL (<= 60 s) for a large file", _json({"type": "object", "properties": {
            "url": {"type": "string"}, "expires_in": {"type": "integer"},
            "size": {"type": "integer"}}}), 400, 401, 403, 404, params=[NAME, PATH])},
    "/signed/{token}": {"get": _op("Bytes of a broker-signed URL",
                                   {"description": "The bytes"}, 401, 403, 404,
                                   params=[{"name": "token", "in": "path", "required": True,
                                            "schema": {"type": "string"}}])},
    "/audit": {"get": _op("Audit records (admins)", _json({"type": "object"}), 400, 401, 403,
                          params=[{"name": n, "in": "query", "schema": {"type": "string"}}
                                  for n in ("user", "dataset", "decision", "after", "limit")])},
    "/audit/verify": {"get": _op("Check the audit hash chain (admins)",
                                 _json({"type": "object"}), 401, 403)},
    "/sessions": {"post": _op("Mint a session credential (the hub only)",
                              _json({"type": "object"}, "Created"), 400, 401, 413)},
    "/sessions/{id}": {"delete": _op("Revoke a session credential (the hub only)",
                                     {"description": "Revoked"}, 401, 404,
                                     params=[{"name": "id", "in": "path", "required": True,
                                              "schema": {"type": "string"}}])},
    "/sessions/current/taint": {"get": _op("Highest class the calling session's kernel read",
                                           _json({"type": "object"}), 400, 401)},
}


def document(prefix: str) -> dict[str, Any]:
    return {
        "openapi": "3.1.0",
        "info": {"title": "Assay data broker", "version": "1",
                 "description": "Every read is decided and audited by the hub-side broker. "
                                "Authenticate with 'Authorization: token <session credential "
                                "or hub API token>'."},
        "servers": [{"url": prefix.rstrip("/") + "/api/v1"}],
        "components": {
            "securitySchemes": {"token": {"type": "apiKey", "in": "header",
                                          "name": "Authorization"}},
            "schemas": {
                "Error": {"type": "object", "required": ["error", "message"], "properties": {
                    "error": {"type": "string"}, "message": {"type": "string"}}},
                "Denied": {"type": "object", "properties": {
                    "error": {"const": "access_denied"}, "message": {"type": "string"},
                    "dataset": {"type": "string"}, "missing": {"type": "array",
                                                               "items": {"type": "string"}},
                    "ask": {"type": "string"}}}}},
        "security": [{"token": []}],
        "paths": PATHS,
    }
