"""The broker's REST API as an OpenAPI 3.1 document (served at ``api/v1/openapi.json``)."""

from __future__ import annotations

from typing import Any

from .openapi_dask import PATHS as DASK_PATHS
from .openapi_dask import SCHEMAS as DASK_SCHEMAS
from .openapi_models import MODEL_PATHS
from .openapi_models import SCHEMAS as MODEL_SCHEMAS

ERROR = {"$ref": "#/components/schemas/Error"}
DENIED = {"$ref": "#/components/schemas/Denied"}
NAME = {"name": "name", "in": "path", "required": True, "schema": {"type": "string"}}
PATH = {"name": "path", "in": "path", "required": True, "schema": {"type": "string"}}


def _json(schema: dict, description: str = "OK") -> dict:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def _errors(*codes: int, jobs: bool = False) -> dict:
    texts = {400: "Bad request", 401: "No valid credential", 403: "Access denied",
             404: "Not found", 409: "Conflict", 413: "Request too large",
             416: "Range not satisfiable", 503: "Unavailable"}
    return {str(c): _json(JOB_ERROR if jobs and c != 401 else
                          DENIED if c == 403 else ERROR, texts[c]) for c in codes}


def _op(summary: str, ok: dict, *errors: int, params: list | None = None, **extra: Any) -> dict:
    return {"summary": summary, "parameters": params or [],
            "responses": {"200": ok, **_errors(*errors)}, **extra}


JOB_ERROR = {"$ref": "#/components/schemas/JobError"}
JOB = {"$ref": "#/components/schemas/Job"}
RUN = {"$ref": "#/components/schemas/Run"}
OBJ = {"type": "object"}


def _id(name: str = "id") -> dict:
    return {"name": name, "in": "path", "required": True, "schema": {"type": "integer"}}


def _job_op(summary: str, ok: dict, *errors: int, status: str = "200",
            params: list | None = None, body: dict | None = None) -> dict:
    """A jobs endpoint: errors are the JobError family ({error, message, problems})."""
    op: dict[str, Any] = {"summary": summary, "tags": ["jobs"], "parameters": params or [],
                          "responses": {status: ok, **_errors(401, *errors, jobs=True)}}
    if body is not None:
        op["requestBody"] = {"required": True, "content": {"application/json": {
            "schema": body}}}
    return op


def _file(media: str, what: str) -> dict:
    return {"description": what, "content": {media: {}}}


SUBMIT = {"type": "object", "required": ["name", "notebook_path", "profile", "notebook"],
          "description": "JobSpec fields (unknown fields are refused) and the notebook; "
                         "at most 16 MiB", "properties": {
              "name": {"type": "string"}, "notebook_path": {"type": "string"},
              "notebook": {"type": "object", "description": "the .ipynb JSON (pinned)"},
              "parameters": {"type": "object", "description": "checked against the "
                             "notebook's parameters cell; secrets as secret://name"},
              "profile": {"type": "string"}, "schedule": {"type": ["string", "null"]},
              "timezone": {"type": "string"}, "timeout_s": {"type": ["integer", "null"]},
              "retries": {"type": "integer"}, "retry_backoff_s": {"type": "number"},
              "max_concurrency": {"type": "integer"},
              "catchup": {"enum": ["none", "latest", "all"]},
              "webhook": {"type": ["string", "null"]}, "drift_rules": {"type": "array"},
              "paused": {"type": "boolean"}}}
JOB_PATHS: dict[str, Any] = {
    "/jobs": {
        "get": _job_op("Your jobs (admins: every job), each with its last run",
                       _json({"type": "object", "properties": {"jobs": {
                           "type": "array", "items": JOB}}}), 403),
        "post": _job_op("Submit a job; an on-demand job's run is queued at once",
                        _json({"type": "object", "properties": {"job": JOB, "run": RUN}},
                              "Created"), 400, 403, 409, 413, status="201", body=SUBMIT)},
    "/jobs/{id}": {
        "get": _job_op("One job, with its next slot and last run", _json(JOB), 404,
                       params=[_id()]),
        "delete": _job_op("Delete a job with its runs (not while one executes)",
                          {"description": "Deleted"}, 404, 409, status="204",
                          params=[_id()])},
    "/jobs/{id}/runs": {
        "get": _job_op("A job's runs, newest first", _json({"type": "object", "properties": {
            "runs": {"type": "array", "items": RUN}}}), 400, 404, params=[
            _id(), *({"name": n, "in": "query", "schema": {"type": "integer"}}
                     for n in ("limit", "before"))]),
        "post": _job_op("Run now", _json({"type": "object", "properties": {"run": RUN}},
                                         "Queued"), 404, status="201", params=[_id()])},
    "/jobs/{id}/pause": {"post": _job_op("Pause: no new slots are claimed", _json(OBJ), 404,
                                         params=[_id()])},
    "/jobs/{id}/resume": {"post": _job_op("Resume from now (missed slots are skipped)",
                                          _json(OBJ), 404, params=[_id()])},
    "/runs/{id}": {"get": _job_op("A run: status, live progress, parameters, metrics, drift",
                                  _json(RUN), 404, params=[_id()])},
    "/runs/{id}/log": {"get": _job_op("The run's log", _file("text/plain", "The log"), 404,
                                      params=[_id()])},
    "/runs/{id}/notebook": {"get": _job_op("The executed notebook (secrets redacted)",
                                           _file("application/x-ipynb+json", "ipynb"), 404,
                                           params=[_id()])},
    "/runs/{id}/html": {"get": _job_op("The executed notebook as sandboxed HTML",
                                       _file("text/html", "HTML"), 404, params=[_id()])},
    "/runs/{id}/cancel": {"post": _job_op("Cancel a queued or running run", _json(OBJ),
                                          404, 409, params=[_id()])},
    "/runs/{id}/metrics": {"post": _job_op(
        "Record a metric (only the run's own job credential)", _json(OBJ, "Recorded"),
        400, 403, 404, status="201", params=[_id()], body={
            "type": "object", "required": ["name", "value"], "properties": {
                "name": {"type": "string"}, "value": {"type": "number"}}})},
    "/secrets": {
        "get": _job_op("Names of your secrets (never values)", _json(OBJ), 403, 503),
        "post": _job_op("Store or replace a secret", _json(OBJ, "Stored"), 400, 403, 503,
                        status="201", body={"type": "object", "required": ["name", "value"],
                                            "properties": {"name": {"type": "string"},
                                                           "value": {"type": "string"}}})},
    "/secrets/{name}": {"delete": _job_op("Delete a secret", {"description": "Deleted"},
                                          404, status="204", params=[NAME])},
    "/profiles": {"get": _job_op("Profiles you may run jobs on", _json(OBJ))},
}


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
    **JOB_PATHS,
    **MODEL_PATHS,
    **DASK_PATHS,
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
                    "ask": {"type": "string"}}},
                "JobError": {"type": "object", "required": ["error", "message"],
                             "properties": {"error": {"type": "string"},
                                            "message": {"type": "string"},
                                            "problems": {"type": "array",
                                                         "items": {"type": "string"}}}},
                "Job": {"type": "object", "required": ["id", "owner", "name"]},
                "Run": {"type": "object", "required": ["id", "job_id", "status"],
                        "properties": {"status": {"enum": [
                            "queued", "running", "succeeded", "failed", "timed_out",
                            "cancelled", "interrupted"]}}},
                **MODEL_SCHEMAS, **DASK_SCHEMAS}},
        "security": [{"token": []}],
        "paths": PATHS,
    }
