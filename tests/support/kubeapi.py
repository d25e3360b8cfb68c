"""A loopback stand-in for the Kubernetes API server: just what the Assay service's Dask
backend calls, with every POSTed object validated as the API server (and the CRD) would.

* ``GET /api/v1/namespaces/{ns}/pods/{name}`` (pods are added by the test: ``add_pod``);
* ``POST /api/v1/namespaces/{ns}/secrets``, ``DELETE …/secrets/{name}``;
* ``POST``/``GET`` (list, ``labelSelector``) ``/apis/kubernetes.dask.org/v1/namespaces/{ns}/
  {daskclusters|daskworkergroups}``, ``GET``/``DELETE`` ``…/{name}``.

Core objects are validated with ``kubernetes_validate`` (strict, 1.33.0), Dask resources
against the CRD schemas shipped with dask-kubernetes (unknown keys refused) plus their
``metadata`` as ObjectMeta. Invalid objects are answered 422, duplicates 409, unknown
names 404, a missing or wrong bearer token 401 -- as the API server does. Nothing plays
the operator: ``set_phase`` does what it would do to a cluster's status.

``start_kube_service`` starts a real Assay service process in Kubernetes mode beside a
test hub's own (the same environment and hub token; the kubeconfig points here).
"""

from __future__ import annotations

import asyncio
import copy
import json
import secrets
import subprocess
import sys
import threading
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import dask_kubernetes
import httpx
import jsonschema
import kubernetes_validate
import yaml
from tornado import web
from tornado.httpserver import HTTPServer
from tornado.netutil import bind_sockets

from hubfixtures import demo_config, write_config
from hubprocess import HubProcess, free_port
from serverenv import broker_process

K8S_VERSION = "1.33.0"
CRDS = (Path(dask_kubernetes.__file__).parent / "operator" / "deployment" / "helm"
        / "dask-kubernetes-operator" / "crds")
DASK = "kubernetes.dask.org"
PLURALS = {"daskclusters": "daskcluster", "daskworkergroups": "daskworkergroup"}


def closed(schema: Any) -> Any:
    """Unknown keys fail: ``additionalProperties: false`` wherever properties are listed."""
    if isinstance(schema, dict):
        schema = {k: closed(v) for k, v in schema.items()}
        if "properties" in schema and "additionalProperties" not in schema \
                and not schema.get("x-kubernetes-preserve-unknown-fields"):
            schema["additionalProperties"] = False
        return schema
    if isinstance(schema, list):
        return [closed(item) for item in schema]
    return schema


def _crd(plural: str) -> tuple[str, str, dict[str, Any]]:
    definition = yaml.safe_load((CRDS / f"{PLURALS[plural]}.yaml").read_text())
    [version] = [v for v in definition["spec"]["versions"] if v["served"]]
    return (f"{definition['spec']['group']}/{version['name']}",
            definition["spec"]["names"]["kind"], closed(version["schema"]["openAPIV3Schema"]))


def validate_custom(plural: str, obj: dict[str, Any]) -> None:
    """As the API server validates a custom resource (raises on a problem)."""
    api_version, kind, schema = _crd(plural)
    if obj.get("apiVersion") != api_version or obj.get("kind") != kind:
        raise ValueError(f"apiVersion/kind must be {api_version}/{kind}")
    body = {k: v for k, v in obj.items() if k not in ("apiVersion", "kind", "metadata")}
    jsonschema.validate(body, schema)
    kubernetes_validate.validate({"apiVersion": "v1", "kind": "ConfigMap",
                                  "metadata": obj.get("metadata") or {}},
                                 K8S_VERSION, strict=True)


def status(code: int, reason: str, message: str) -> dict[str, Any]:
    return {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
            "message": message, "reason": reason, "code": code}


class KubeAPI:
    """``start()`` on 127.0.0.1:random, ``kubeconfig(path)``, ``objects(kind)``, ``stop()``."""

    def __init__(self) -> None:
        self.token = secrets.token_hex(16)
        self.store: dict[tuple[str, str, str], dict[str, Any]] = {}  # (kind, ns, name)
        self.requests: list[tuple[str, str]] = []  # (method, path) in order
        self.refused: list[tuple[str, str, int, str]] = []  # (method, path, code, message)
        self.lock = threading.Lock()
        self.port = 0
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._server: HTTPServer | None = None

    # -- test helpers ----------------------------------------------------------------

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def kubeconfig(self, path: Path) -> Path:
        """A kubeconfig pointing at this server with its token (what the service loads)."""
        path.write_text(yaml.safe_dump({
            "apiVersion": "v1", "kind": "Config", "current-context": "standin",
            "clusters": [{"name": "standin", "cluster": {"server": self.url}}],
            "users": [{"name": "assay-hub", "user": {"token": self.token}}],
            "contexts": [{"name": "standin", "context": {"cluster": "standin",
                                                         "user": "assay-hub"}}]}))
        return path

    def add_pod(self, namespace: str, name: str, user: str, image: str, server: str = "",
                phase: str = "Running") -> dict[str, Any]:
        """A notebook pod as KubeSpawner makes it (the fields the service looks at)."""
        notes = {"hub.jupyter.org/username": user}
        if server:
            notes["hub.jupyter.org/servername"] = server
        pod = {"apiVersion": "v1", "kind": "Pod",
               "metadata": {"name": name, "namespace": namespace, "annotations": notes,
                            "labels": {"component": "singleuser-server"}},
               "spec": {"containers": [{"name": "notebook", "image": image}]},
               "status": {"phase": phase}}
        kubernetes_validate.validate(pod, K8S_VERSION, strict=True)
        with self.lock:
            return copy.deepcopy(self._put("pods", pod))

    def objects(self, kind: str, namespace: str | None = None) -> list[dict[str, Any]]:
        with self.lock:
            return [copy.deepcopy(o) for (k, ns, _), o in self.store.items()
                    if k == kind and (namespace is None or ns == namespace)]

    def get(self, kind: str, namespace: str, name: str) -> dict[str, Any] | None:
        with self.lock:
            found = self.store.get((kind, namespace, name))
            return copy.deepcopy(found) if found else None

    def set_phase(self, namespace: str, name: str, phase: str) -> None:
        """What the operator does to a DaskCluster's status."""
        with self.lock:
            self.store[("daskclusters", namespace, name)]["status"] = {"phase": phase}

    def _put(self, kind: str, obj: dict[str, Any]) -> dict[str, Any]:
        meta = obj["metadata"]
        meta.update(uid=str(uuid.uuid4()), resourceVersion=str(len(self.store) + 1),
                    creationTimestamp=datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"))
        self.store[(kind, meta["namespace"], meta["name"])] = obj
        return obj

    # -- server ------------------------------------------------------------------------

    def start(self) -> KubeAPI:
        sockets = bind_sockets(0, "127.0.0.1")
        self.port = sockets[0].getsockname()[1]
        ready = threading.Event()

        def run() -> None:
            self._loop = asyncio.new_event_loop()
            asyncio.set_event_loop(self._loop)
            app = web.Application(self._routes())
            self._server = HTTPServer(app)
            self._server.add_sockets(sockets)
            ready.set()
            self._loop.run_forever()

        self._thread = threading.Thread(target=run, name="kubeapi-standin", daemon=True)
        self._thread.start()
        ready.wait(10)
        return self

    def stop(self) -> None:
        if self._loop is not None:
            self._loop.call_soon_threadsafe(self._server.stop)
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(10)

    def _routes(self) -> list:
        ns = r"([a-z0-9-]{1,63})"
        name = r"([^/]+)"
        custom = r"(daskclusters|daskworkergroups)"
        args = {"api": self}
        return [
            (rf"/api/v1/namespaces/{ns}/pods/{name}", PodHandler, args),
            (rf"/api/v1/namespaces/{ns}/secrets", SecretsHandler, args),
            (rf"/api/v1/namespaces/{ns}/secrets/{name}", SecretHandler, args),
            (rf"/apis/{DASK}/v1/namespaces/{ns}/{custom}", CustomListHandler, args),
            (rf"/apis/{DASK}/v1/namespaces/{ns}/{custom}/{name}", CustomHandler, args),
        ]


class Base(web.RequestHandler):
    def initialize(self, api: KubeAPI) -> None:
        self.api = api

    def prepare(self) -> None:
        self.api.requests.append((self.request.method, self.request.path))
        if self.request.headers.get("Authorization") != f"Bearer {self.api.token}":
            self.fail(401, "Unauthorized", "Unauthorized")

    def fail(self, code: int, reason: str, message: str) -> None:
        self.api.refused.append((self.request.method, self.request.path, code, message))
        self.set_status(code)
        self.finish(status(code, reason, message))
        raise web.Finish()

    def answer(self, obj: dict[str, Any], code: int = 200) -> None:
        self.set_status(code)
        self.set_header("Content-Type", "application/json")
        self.finish(json.dumps(obj))

    def body(self, namespace: str) -> dict[str, Any]:
        try:
            obj = json.loads(self.request.body)
        except ValueError:
            self.fail(400, "BadRequest", "body is not JSON")
        meta = obj.get("metadata") if isinstance(obj, dict) else None
        if not isinstance(meta, dict) or not meta.get("name"):
            self.fail(422, "Invalid", "metadata.name: Required value")
        if meta.setdefault("namespace", namespace) != namespace:
            self.fail(400, "BadRequest", "the namespace of the object does not match the "
                                         "namespace on the request")
        return obj

    def create(self, kind: str, namespace: str, obj: dict[str, Any]) -> None:
        with self.api.lock:
            key = (kind, namespace, obj["metadata"]["name"])
            if key in self.api.store:
                self.fail(409, "AlreadyExists",
                          f'{kind} "{obj["metadata"]["name"]}" already exists')
            created = copy.deepcopy(self.api._put(kind, obj))
        self.answer(created, 201)

    def remove(self, kind: str, namespace: str, name: str) -> None:
        with self.api.lock:
            gone = self.api.store.pop((kind, namespace, name), None)
        if gone is None:
            self.fail(404, "NotFound", f'{kind} "{name}" not found')
        self.answer({"kind": "Status", "apiVersion": "v1", "metadata": {},
                     "status": "Success", "details": {"name": name, "kind": kind}})


class PodHandler(Base):
    def get(self, namespace: str, name: str) -> None:
        found = self.api.get("pods", namespace, name)
        if found is None:
            self.fail(404, "NotFound", f'pods "{name}" not found')
        self.answer(found)


class SecretsHandler(Base):
    def post(self, namespace: str) -> None:
        obj = self.body(namespace)
        try:
            kubernetes_validate.validate(obj, K8S_VERSION, strict=True)
        except Exception as exc:  # noqa: BLE001 - every validation problem is a 422
            self.fail(422, "Invalid", f"Secret is invalid: {exc}")
        self.create("secrets", namespace, obj)


class SecretHandler(Base):
    def delete(self, namespace: str, name: str) -> None:
        self.remove("secrets", namespace, name)


class CustomListHandler(Base):
    def post(self, namespace: str, plural: str) -> None:
        obj = self.body(namespace)
        try:
            validate_custom(plural, obj)
        except Exception as exc:  # noqa: BLE001 - every validation problem is a 422
            self.fail(422, "Invalid", f"{plural} is invalid: {exc}")
        self.create(plural, namespace, obj)

    def get(self, namespace: str, plural: str) -> None:
        wanted = {}
        for term in filter(None, self.get_query_argument("labelSelector", "").split(",")):
            key, _, value = term.partition("=")
            wanted[key] = value
        items = [o for o in self.api.objects(plural, namespace)
                 if all((o["metadata"].get("labels") or {}).get(k) == v
                        for k, v in wanted.items())]
        _, kind, _ = _crd(plural)
        self.answer({"apiVersion": f"{DASK}/v1", "kind": f"{kind}List", "metadata": {},
                     "items": items})


class CustomHandler(Base):
    def get(self, namespace: str, plural: str, name: str) -> None:
        found = self.api.get(plural, namespace, name)
        if found is None:
            self.fail(404, "NotFound", f'{plural} "{name}" not found')
        self.answer(found)

    def delete(self, namespace: str, plural: str, name: str) -> None:
        self.remove(plural, namespace, name)


# -- the Assay service in Kubernetes mode, pointed at the stand-in -----------------------


NAMESPACE = "assay"
CPU_IMAGE = "registry.example.org/assay-singleuser:0.1.0"
GPU_IMAGE = "registry.example.org/assay-singleuser-gpu:0.1.0"
PODS_BROKER = "http://hub:8002"
GPU_DASK = {"slug": "gpu-dask", "display_name": "GPU + Dask",
            "description": "1 GPU, 2 CPUs, 4 GB and one Dask worker per GPU.",
            "cpu": {"guarantee": 1, "limit": 2}, "memory": {"guarantee": "2G", "limit": "4G"},
            "gpus": 1, "dask_workers": 1, "image": GPU_IMAGE}
SERVERS = {"alice": ("dask", CPU_IMAGE), "bob": ("cpu-small", CPU_IMAGE),
           "admin": ("gpu-dask", GPU_IMAGE)}


def configs() -> tuple[dict, dict]:
    """(the hub's local-mode config, the same profiles in Kubernetes mode)."""
    local = demo_config()
    local["profiles"] = [*local["profiles"], GPU_DASK]
    local["kubernetes"] = {**local["kubernetes"], "image": CPU_IMAGE}
    kube = copy.deepcopy(local)
    kube["mode"] = "kubernetes"
    kube["kubernetes"]["broker_url"] = PODS_BROKER
    return local, kube


@dataclass
class KubeService:
    """The Kubernetes-mode Assay service and what the tests need around it."""

    hub: HubProcess
    api: KubeAPI
    url: str  # …/services/assay/ of the Kubernetes-mode service
    tokens: dict[str, str]  # user → their server's session credential
    pods: dict[str, dict]  # user → their notebook pod in the stand-in
    log: Path

    def call(self, method: str, path: str, token: str, **kw) -> httpx.Response:
        headers = {"Authorization": f"token {token}", **kw.pop("headers", {})}
        return httpx.request(method, self.url + "api/v1/" + path, headers=headers,
                             timeout=60, **kw)

    def audit(self, **query: str) -> list[dict]:
        r = self.call("GET", "audit", self.hub.token, params={"limit": "1000", **query})
        assert r.status_code == 200, r.text
        return r.json()["records"]

    def mark(self) -> str:
        """The audit log's last seq now: ``audit(after=mark)`` sees only what came later
        (cluster names repeat across tests: one per session)."""
        records = self.hub.audit()
        return str(records[-1]["seq"] if records else 0)

    def clear(self) -> None:
        """Every Dask object and Secret gone from the stand-in (isolation between tests)."""
        with self.api.lock:
            for key in [k for k in self.api.store if k[0] != "pods"]:
                del self.api.store[key]


def start_kube_service(hub: HubProcess, config: dict, api: KubeAPI) -> tuple[subprocess.Popen,
                                                                          str, Path]:
    found = broker_process(hub.broker_port)
    assert found is not None, "the hub's own Assay service is not running"
    _, env = found
    path = hub.workdir / "assay-kube.yaml"
    write_config(path, config)
    port = free_port()
    env = {k: v for k, v in env.items() if not k.startswith("KUBERNETES_")}
    env.update(ASSAY_CONFIG=str(path), JUPYTERHUB_SERVICE_URL=f"http://127.0.0.1:{port}",
               KUBECONFIG=str(api.kubeconfig(hub.workdir / "kubeconfig")))
    prefix = env.get("JUPYTERHUB_SERVICE_PREFIX", "/services/assay/")
    log = hub.workdir / "kube-service.log"
    proc = subprocess.Popen([sys.executable, "-m", "assay.broker"], cwd=hub.workdir, env=env,
                            stdout=log.open("ab"), stderr=subprocess.STDOUT,
                            start_new_session=True)
    url = f"http://127.0.0.1:{port}{prefix}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        assert proc.poll() is None, log.read_text()
        try:
            if httpx.get(url + "api/v1/openapi.json", timeout=2).status_code == 200:
                return proc, url, log
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    proc.kill()
    raise TimeoutError(f"the Kubernetes-mode service did not answer:\n{log.read_text()}")
