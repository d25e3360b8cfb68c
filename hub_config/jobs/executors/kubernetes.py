"""Runs as Kubernetes Jobs (``kubernetes_asyncio``), one Secret + one Job per run.

The runner in the pod uploads its files to the output store under
``runs/<run_id>/`` (``ASSAY_OUTPUT_URL``; the pod needs S3 credentials from its
environment or service account), so ``poll`` reads ``result.json`` from there and
``RunResult.outputs`` holds *object keys* (relative paths), not local files.
The Secret is owned by the Job: the Job's TTL removes both.

The ``Executor`` interface is synchronous; calls run on a private event loop in a
thread, so they work from a thread or from inside the service's own event loop.
"""

from __future__ import annotations

import asyncio
import json
import threading
from pathlib import Path
from typing import Any

from ...config.schema import Kubernetes
from ...kubeclient import default_api_client, deleted, found
from ...objects import ObjectStore
from .base import (
    OUTPUT_URL_ENV,
    PROGRESS_FILE,
    RESULT_FILE,
    S3_ENDPOINT_ENV,
    Executor,
    RunResult,
    RunSpec,
    check_spec,
    executor_error,
    output_key,
    spec_document,
)
from .objects import DEFAULT_TTL_S, job_manifest, run_name, secret_manifest

CALL_TIMEOUT_S = 60


class KubernetesExecutor(Executor):
    """``objects``/``objects_url``: the output store (``storage.url``, must be s3://
    for pods to reach it). ``api_client``: an async factory of a
    ``kubernetes_asyncio.client.ApiClient`` (default: in-cluster, else kubeconfig)."""

    def __init__(self, kube: Kubernetes, objects: ObjectStore, objects_url: str, *,
                 s3_endpoint_url: str | None = None, html: bool = False,
                 ttl_s: int = DEFAULT_TTL_S, api_client: Any = None):
        self.kube, self.objects, self.objects_url = kube, objects, objects_url.rstrip("/")
        self.s3_endpoint_url, self.html, self.ttl_s = s3_endpoint_url, html, ttl_s
        self._api_client = api_client or default_api_client
        self._loop: asyncio.AbstractEventLoop | None = None
        self._lock = threading.Lock()

    # -- pure parts -----------------------------------------------------------------

    def manifests(self, spec: RunSpec) -> tuple[dict[str, Any], dict[str, Any]]:
        """``(secret, job)`` for ``spec``."""
        check_spec(spec)
        name = run_name(spec.run_id)
        notebook = Path(spec.notebook).read_text(encoding="utf-8")
        document = json.dumps(spec_document(spec, "notebook.ipynb", html=self.html))
        extra = {OUTPUT_URL_ENV: f"{self.objects_url}/runs/{spec.run_id}"}
        if self.s3_endpoint_url:
            extra[S3_ENDPOINT_ENV] = self.s3_endpoint_url
        secret = secret_manifest(spec, name, self.kube.namespace, spec_json=document,
                                 notebook=notebook)
        job = job_manifest(spec, name, self.kube.namespace, self.kube, name,
                           extra_env=extra, ttl_s=self.ttl_s)
        return secret, job

    @staticmethod
    def parse(ref: str) -> tuple[str, str, str]:
        """``"<namespace>/<job name>/<run id>"`` → its parts."""
        parts = ref.split("/", 2) if isinstance(ref, str) else []
        if len(parts) != 3 or not all(parts):
            raise executor_error("Unknown run reference.", f"bad kubernetes ref {ref!r}")
        return parts[0], parts[1], parts[2]

    # -- the interface ----------------------------------------------------------------

    def start(self, spec: RunSpec) -> str:
        secret, job = self.manifests(spec)
        self._run(self._create(secret, job))
        return f"{job['metadata']['namespace']}/{job['metadata']['name']}/{spec.run_id}"

    def poll(self, ref: str) -> RunResult | None:
        namespace, name, run_id = self.parse(ref)
        stored = self._stored_result(run_id)
        if stored is not None:
            return stored
        status = self._run(self._job_status(namespace, name))
        if status is None:  # deleted (TTL, by hand) before a result was stored
            return self._conclude(run_id, "interrupted", "The run's Job disappeared "
                                  "without a result.")
        conditions = {c.get("type"): c for c in status.get("conditions") or []
                      if c.get("status") == "True"}
        if "Complete" in conditions or "Failed" in conditions:
            stored = self._stored_result(run_id)
            if stored is not None:
                return stored
            failed = conditions.get("Failed") or {}
            if failed.get("reason") == "DeadlineExceeded":
                return self._conclude(run_id, "timed_out", "The run exceeded its time limit.")
            return self._conclude(run_id, "interrupted", "The run's pod stopped without a "
                                  f"result: {failed.get('reason') or 'no reason given'}.")
        return None

    def progress(self, ref: str) -> tuple[int, int]:
        return self._progress(self.parse(ref)[2])

    def _progress(self, run_id: str) -> tuple[int, int]:
        data = self._read(output_key(run_id, PROGRESS_FILE))
        if not isinstance(data, dict):
            return 0, 0
        return int(data.get("done", 0)), int(data.get("total", 0))

    def cancel(self, ref: str) -> None:
        namespace, name, run_id = self.parse(ref)
        if self._stored_result(run_id) is not None:
            return
        self._run(self._delete(namespace, name))
        self._conclude(run_id, "cancelled", "The run was cancelled.")

    def find(self, run_id: str, workdir: str) -> str | None:
        namespace, name = self.kube.namespace, run_name(run_id)
        launched = (self._stored_result(run_id) is not None
                    or self._run(self._job_status(namespace, name)) is not None)
        return f"{namespace}/{name}/{run_id}" if launched else None

    # -- results in the output store -----------------------------------------------------

    def _read(self, key: str) -> Any:
        if not self.objects.exists(key):
            return None
        try:
            return json.loads(self.objects.get(key))
        except ValueError:
            return None

    def _stored_result(self, run_id: str) -> RunResult | None:
        data = self._read(output_key(run_id, RESULT_FILE))
        if not isinstance(data, dict):
            return None
        data["outputs"] = {k: output_key(run_id, Path(v).name)
                           for k, v in dict(data.get("outputs") or {}).items()}
        return RunResult.from_json(data)

    def _conclude(self, run_id: str, status: str, error: str) -> RunResult:
        done, total = self._progress(run_id)
        result = RunResult(status, error, done, total, 0.0, {})
        self.objects.put(output_key(run_id, RESULT_FILE),
                         json.dumps(result.to_json()).encode())
        return result

    # -- Kubernetes calls ----------------------------------------------------------------

    def _run(self, coroutine: Any) -> Any:
        with self._lock:
            if self._loop is None:
                self._loop = asyncio.new_event_loop()
                threading.Thread(target=self._loop.run_forever, name="assay-kube-executor",
                                 daemon=True).start()
        return asyncio.run_coroutine_threadsafe(coroutine, self._loop).result(CALL_TIMEOUT_S)

    async def _create(self, secret: dict[str, Any], job: dict[str, Any]) -> None:
        from kubernetes_asyncio import client

        async with await self._api_client() as api:
            namespace = job["metadata"]["namespace"]
            created = await client.BatchV1Api(api).create_namespaced_job(namespace, job)
            secret["metadata"]["ownerReferences"] = [{
                "apiVersion": "batch/v1", "kind": "Job", "name": created.metadata.name,
                "uid": created.metadata.uid}]
            try:
                await client.CoreV1Api(api).create_namespaced_secret(namespace, secret)
            except BaseException:  # no Job left waiting for a Secret that never comes
                await client.BatchV1Api(api).delete_namespaced_job(
                    created.metadata.name, namespace, propagation_policy="Background")
                raise

    async def _job_status(self, namespace: str, name: str) -> dict[str, Any] | None:
        from kubernetes_asyncio import client

        async with await self._api_client() as api:
            job = await found(client.BatchV1Api(api).read_namespaced_job_status(name, namespace))
            return None if job is None else api.sanitize_for_serialization(job.status) or {}

    async def _delete(self, namespace: str, name: str) -> None:
        from kubernetes_asyncio import client

        async with await self._api_client() as api:
            await deleted(client.BatchV1Api(api).delete_namespaced_job(
                name, namespace, propagation_policy="Foreground"))
