"""A run as Kubernetes objects: pure data, no cluster, no I/O.

* a per-run ``Secret`` holding the run's broker credential, its secret values (as
  ``ASSAY_SECRET_<NAME>`` keys) and the two input files ``spec.json`` and
  ``notebook.ipynb``;
* a ``batch/v1`` ``Job`` running ``python -m assay.jobs.runner /work`` once
  (``backoffLimit: 0``; retries are the scheduler's), sized by the profile, that reads
  every sensitive variable through ``secretKeyRef`` (never an inline value) and sees
  the two input files in its ``emptyDir`` working folder.
"""

from __future__ import annotations

import json
import re
from typing import Any

from ...config.schema import Kubernetes, Profile, memory_bytes
from ...spawners.objects import environment, toleration
from .base import (
    CREDENTIAL_ENV,
    SPEC_FILE,
    RunSpec,
    executor_error,
    secret_environment,
)

WORKDIR = "/work"
NOTEBOOK_FILE = "notebook.ipynb"
CONTAINER = "runner"
JOB_LABEL, RUN_LABEL, OWNER_LABEL = "assay/job", "assay/run", "assay/owner"
MAX_SECRET_BYTES = 1024 * 1024 - 16 * 1024  # Kubernetes' 1 MiB, with room for metadata
DEFAULT_TTL_S = 3600
_SENSITIVE = re.compile(r"TOKEN|SECRET|PASSWORD|CREDENTIAL|PRIVATE_KEY")


def sensitive(name: str) -> bool:
    """Environment names whose values go through the Secret, never inline."""
    return name == CREDENTIAL_ENV or bool(_SENSITIVE.search(name.upper()))


def label_value(raw: str) -> str:
    """A valid label value (≤ 63 of ``[A-Za-z0-9._-]``, alphanumeric at both ends)."""
    text = re.sub(r"[^A-Za-z0-9._-]", "-", str(raw))[:63]
    return re.sub(r"^[^A-Za-z0-9]+|[^A-Za-z0-9]+$", "", text)


def run_name(run_id: str) -> str:
    """A DNS-1123 name for the run's Job and Secret."""
    slug = re.sub(r"[^a-z0-9-]+", "-", str(run_id).lower()).strip("-")
    return ("assay-run-" + slug)[:63].rstrip("-")


def labels(spec: RunSpec) -> dict[str, str]:
    return {JOB_LABEL: label_value(spec.job_id), RUN_LABEL: label_value(spec.run_id),
            OWNER_LABEL: label_value(spec.owner), "assay/profile": spec.profile.slug,
            "assay/zone": spec.profile.zone, "app.kubernetes.io/managed-by": "assay"}


def secret_data(spec: RunSpec) -> dict[str, str]:
    """What the Secret carries as environment: the credential and the secret values."""
    data = {k: v for k, v in spec.env.items() if sensitive(k)}
    data.update(secret_environment(spec.secrets))
    return data


def secret_manifest(spec: RunSpec, name: str, namespace: str, *, spec_json: str,
                    notebook: str) -> dict[str, Any]:
    """The per-run ``Secret`` (``stringData``); ``spec_json``/``notebook``: the files."""
    data = {**secret_data(spec), SPEC_FILE: spec_json, NOTEBOOK_FILE: notebook}
    size = sum(len(k) + len(v.encode()) for k, v in data.items())
    if size > MAX_SECRET_BYTES:
        raise executor_error(
            f"The notebook is too large to run in Kubernetes mode ({size // 1024} KiB; at "
            f"most {MAX_SECRET_BYTES // 1024} KiB). Clear its outputs and submit it again.")
    return {"apiVersion": "v1", "kind": "Secret", "type": "Opaque",
            "metadata": {"name": name, "namespace": namespace, "labels": labels(spec)},
            "stringData": data}


def resources(profile: Profile, kube: Kubernetes) -> dict[str, dict[str, str]]:
    """Requests are the profile's guarantees, limits its limits (+ GPUs if any)."""
    limits = {"cpu": f"{profile.cpu.limit:g}",
              "memory": str(memory_bytes(profile.memory.limit))}
    requests: dict[str, str] = {}
    if profile.cpu.guarantee is not None:
        requests["cpu"] = f"{profile.cpu.guarantee:g}"
    if profile.memory.guarantee:
        requests["memory"] = str(memory_bytes(profile.memory.guarantee))
    if profile.gpus:
        limits[kube.gpu_resource] = str(profile.gpus)
    out = {"limits": limits}
    if requests:
        out["requests"] = requests
    return out


def env_list(spec: RunSpec, secret_name: str,
             extra_env: dict[str, str] | None = None) -> list[dict[str, Any]]:
    """Plain values for the ordinary variables, ``secretKeyRef`` for the sensitive ones."""
    profile = spec.profile
    plain = {**environment(profile), "CPU_LIMIT": str(float(profile.cpu.limit)),
             "MEM_LIMIT": str(memory_bytes(profile.memory.limit)),
             "ASSAY_RUN_ID": spec.run_id, "ASSAY_JOB_ID": spec.job_id,
             **{k: v for k, v in spec.env.items() if not sensitive(k)},
             **(extra_env or {})}
    out = [{"name": k, "value": v} for k, v in plain.items() if not sensitive(k)]
    out += [{"name": k, "valueFrom": {"secretKeyRef": {"name": secret_name, "key": k}}}
            for k in secret_data(spec)]
    return out


def job_manifest(spec: RunSpec, run_name: str, namespace: str, kube_settings: Kubernetes,
                 secret_name: str, *, extra_env: dict[str, str] | None = None,
                 ttl_s: int = DEFAULT_TTL_S) -> dict[str, Any]:
    """The run's ``batch/v1`` Job. ``extra_env``: e.g. where to upload outputs."""
    profile = spec.profile
    pod: dict[str, Any] = {
        "restartPolicy": "Never",
        "automountServiceAccountToken": False,
        "enableServiceLinks": False,
        "containers": [{
            "name": CONTAINER,
            "image": spec.image or profile.image or kube_settings.image,
            "command": ["python", "-m", "assay.jobs.runner", WORKDIR],
            "workingDir": WORKDIR,
            "env": env_list(spec, secret_name, extra_env),
            "resources": resources(profile, kube_settings),
            "securityContext": {"allowPrivilegeEscalation": False},
            "volumeMounts": [
                {"name": "work", "mountPath": WORKDIR},
                *({"name": "inputs", "mountPath": f"{WORKDIR}/{f}", "subPath": f,
                   "readOnly": True} for f in (SPEC_FILE, NOTEBOOK_FILE)),
            ],
        }],
        "volumes": [
            {"name": "work", "emptyDir": {}},
            {"name": "inputs", "secret": {
                "secretName": secret_name, "defaultMode": 0o440,
                "items": [{"key": f, "path": f} for f in (SPEC_FILE, NOTEBOOK_FILE)]}},
        ],
    }
    if profile.gpus:
        pod["nodeSelector"] = dict(kube_settings.gpu_node_selector)
        pod["tolerations"] = [toleration(t) for t in kube_settings.gpu_tolerations]
    job_spec: dict[str, Any] = {"backoffLimit": 0, "ttlSecondsAfterFinished": ttl_s,
                                "template": {"metadata": {"labels": labels(spec)},
                                             "spec": pod}}
    if spec.timeout_s:
        job_spec["activeDeadlineSeconds"] = int(spec.timeout_s)
    return {"apiVersion": "batch/v1", "kind": "Job",
            "metadata": {"name": run_name, "namespace": namespace, "labels": labels(spec)},
            "spec": job_spec}


def dumps(document: dict[str, Any]) -> str:
    return json.dumps(document, ensure_ascii=False, indent=1)
