"""The notebook Dask clusters' part of the OpenAPI document (``api/v1/dask/…``)."""

from __future__ import annotations

from typing import Any

ERROR = {"$ref": "#/components/schemas/DaskError"}
TEXTS = {400: "Refused: names the field, the value and the valid range",
         401: "No valid credential", 403: "Not a notebook server's credential, or a "
         "profile without Dask workers (lists the Dask profiles you may use)",
         404: "No such cluster of yours", 409: "This server session already has a cluster "
         "(named in the body)", 502: "The Kubernetes API failed"}
CLUSTER = {"$ref": "#/components/schemas/DaskCluster"}


def _json(schema: dict, description: str = "OK") -> dict:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def _op(summary: str, ok: dict, *errors: int, status: str = "200",
        params: list | None = None, body: dict | None = None) -> dict:
    op: dict[str, Any] = {
        "summary": summary, "tags": ["dask"], "parameters": params or [],
        "responses": {status: ok, **{str(c): _json(ERROR, TEXTS[c]) for c in (401, *errors)}}}
    if body is not None:
        op["requestBody"] = {"required": False, "content": {"application/json": {
            "schema": body}}}
    return op


OVERRIDES = {"type": "object", "additionalProperties": False, "properties": {
    "n_workers": {"type": "integer", "minimum": 1, "description": "at most the profile's "
                  "dask_workers"},
    "threads_per_worker": {"type": "integer", "minimum": 1,
                           "description": "at most floor(cpu.limit) of the profile"},
    "memory_limit": {"type": ["integer", "string"], "description": "bytes or '2G'; at most "
                     "the profile's memory.limit per worker"},
    "idle_timeout": {"type": ["number", "string"], "description": "seconds or '30m'; "
                     "1 s to 24 h"}}}
NAME = {"name": "name", "in": "path", "required": True, "schema": {"type": "string"}}

PATHS: dict[str, Any] = {
    "/dask/clusters": {
        "post": _op("Create this server's Dask cluster (Kubernetes mode; one per server "
                    "session), sized by its profile", _json(CLUSTER, "Created"),
                    400, 403, 409, 502, status="201", body=OVERRIDES),
        "get": _op("Your Dask clusters (an admin's: every user's)", _json({
            "type": "object", "properties": {
                "clusters": {"type": "array", "items": CLUSTER}}}), 502)},
    "/dask/clusters/{name}": {
        "delete": _op("Delete one of your Dask clusters (an admin: anyone's)",
                      _json(CLUSTER), 404, 502, params=[NAME])},
}

SCHEMAS: dict[str, Any] = {
    "DaskError": {"type": "object", "required": ["error", "message"], "properties": {
        "error": {"type": "string"}, "message": {"type": "string"},
        "field": {"type": "string"}, "value": {"type": "string"}, "rule": {"type": "string"},
        "cluster": {"type": "string"},
        "dask_profiles": {"type": "array", "items": {"type": "string"}}}},
    "DaskCluster": {"type": "object", "required": ["name", "scheduler_address"],
                    "properties": {
                        "name": {"type": "string"}, "namespace": {"type": "string"},
                        "user": {"type": ["string", "null"]},
                        "status": {"type": "string"},
                        "scheduler_address": {"type": "string"},
                        "dashboard_link": {"type": ["string", "null"]},
                        "profile": {"type": "string"}, "n_workers": {"type": "integer"},
                        "threads_per_worker": {"type": "integer"},
                        "memory_limit": {"type": "integer"},
                        "idle_timeout": {"type": "integer"},
                        "gpu_workers": {"type": "integer"},
                        "owner": {"type": "object"}}},
}
