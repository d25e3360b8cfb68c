"""Model registry REST API under ``api/v1/models``: register, commit, list, show.

Artifact upload and download are in ``api_models_files``, aliases and approvals in
``api_models_aliases``. Identity is the data API's (session credential, job-run
credential, hub token). Lineage and class are computed here from the audit log, never
taken from the client. Every change and every refusal after identification is
committed to the audit log (``dataset`` = ``model:<name>``).
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from ..config.models import ModelsSettings
from ..errors import (
    BrokerError,
    InvalidModelRequest,
    RegistryConflict,
    RegistryError,
    RegistryForbidden,
    RegistryNotFound,
    StorageError,
)
from ..objects import ObjectStore
from ..registry import Registry
from ..registry.lineage import lineage_of
from ..registry.rules import (
    UNSAFE_FLAVORS,
    check_commit,
    check_name,
    check_registration,
    check_version_ref,
    inherit,
    shown,
)
from ..registry.store import ModelSummary, VersionRecord
from .api_base import BrokerHandler
from .policy import Identity

MAX_REGISTER_BODY = 256 * 1024  # params, signature and environment may each be 64 KiB
MAX_LIST = 500


def registry_of(broker: Any) -> Registry:
    """The registry's stores on the broker's database (made once per process)."""
    found = getattr(broker, "model_registry", None)
    if found is None:
        found = broker.model_registry = Registry.on(broker.engine)
    return found


def _time(moment: Any) -> str | None:
    return moment.isoformat() if moment is not None else None


def page_url(prefix: str, name: str, version: int | None = None) -> str:
    """The model's page, an absolute path on the hub's host (through its proxy)."""
    link = f"{prefix}models/{quote(name, safe='')}"
    return link + (f"#v{version}" if version is not None else "")


def version_json(v: VersionRecord, prefix: str) -> dict[str, Any]:
    return {
        "name": v.name, "version": v.version, "status": v.status,
        "registrant": v.registrant, "created": _time(v.created_at),
        "committed": _time(v.committed_at), "description": v.description,
        "metrics": v.metrics, "params": v.params, "signature": v.signature,
        "environment": v.environment, "notebook": v.notebook, "git_commit": v.git_commit,
        "flavor": v.flavor, "safe_format": v.flavor not in UNSAFE_FLAVORS,
        "classification": v.classification,
        "lineage": {"datasets": [{"name": i.dataset, "classification": i.classification}
                                 for i in v.inputs], "run": v.run_id},
        "files": [{"path": f.path, "size": f.size, "sha256": f.sha256} for f in v.files],
        "aliases": v.aliases, "url": page_url(prefix, v.name, v.version),
    }


def summary_json(m: ModelSummary, prefix: str) -> dict[str, Any]:
    return {"name": m.name, "latest_version": m.latest_version, "versions": m.versions,
            "aliases": m.aliases, "classification": m.classification,
            "description": m.description, "updated": _time(m.updated_at),
            "created_by": m.created_by, "url": page_url(prefix, m.name)}


def int_arg(handler: BrokerHandler, name: str, default: int, top: int) -> int:
    raw = handler.get_query_argument(name, str(default))
    if not raw.isdigit() or not raw.isascii() or len(raw) > 9:
        raise InvalidModelRequest(f"{name}: {shown(raw)} is not a whole number >= 0.",
                                  field=name, value=shown(raw), rule="a whole number >= 0")
    return min(int(raw), top)


class ModelsBase(BrokerHandler):
    """Identity, audit of refusals, the registry's stores and settings."""

    max_body = MAX_REGISTER_BODY
    action = "model.show"

    def initialize(self, broker: Any) -> None:
        super().initialize(broker)
        self.registry = registry_of(broker)
        self.subject = ""  # "model:<name>" for the audit log
        self.audited = False

    @property
    def settings(self) -> ModelsSettings:
        return self.broker.config().models

    @property
    def objects(self) -> ObjectStore:
        if self.broker.objects is None:
            raise StorageError("The model store is not available yet; try again shortly.",
                               "broker.objects is not set (start_jobs has not run)")
        return self.broker.objects

    def record(self, **fields: Any) -> dict:  # type: ignore[override]
        self.audited = True
        return super().record(**fields)

    def audit(self, allowed: bool, reason: str, *, action: str | None = None,
              path: str = "", nbytes: int = 0) -> None:
        self.record(action=action or self.action, allowed=allowed, reason=reason,
                    dataset=self.subject, path=path, nbytes=nbytes)

    async def caller(self, action: str, name: str, *, person: bool = False) -> Identity:
        """Who is calling (refusals audited), and the checked model name."""
        self.action = action
        self.subject = f"model:{name[:200]}"
        who = await self.identify(action, self.subject)
        check_name(name)
        if person and who.user.startswith("service:"):
            raise RegistryForbidden("Models are registered and promoted by people; use a "
                                    "user's credential, not a service token.",
                                    field="credential", value=repr(who.user))
        return who

    def write_error(self, status_code: int, **kwargs: Any) -> None:
        exc = kwargs.get("exc_info", (None, None, None))[1]
        if isinstance(exc, BrokerError) and not self.audited and self.subject:
            try:
                self.audit(False, getattr(exc, "error", "refused"),
                           path=getattr(exc, "field", None) or "")
            except BrokerError:  # the audit log itself failed: answer the first error
                pass
        super().write_error(status_code, **kwargs)

    def found(self, name: str, ref: int | str) -> VersionRecord:
        version = self.registry.models.version(name, ref)
        if version is None:
            raise RegistryNotFound(f"Model {name!r} has no version {ref!r}. GET models/{name} "
                                   "lists its versions and aliases.", field="version",
                                   value=repr(ref))
        return version

    def own_pending(self, who: Identity, version: VersionRecord) -> None:
        """Only the registrant changes a version, and only while it is pending."""
        if who.user != version.registrant:
            raise RegistryForbidden(f"Version {version.version} of {version.name} was "
                                    f"registered by {version.registrant}; only they may "
                                    "upload or commit it.", field="credential",
                                    value=repr(who.user))
        if version.status != "pending":
            raise RegistryConflict(f"Version {version.version} of {version.name} is "
                                   f"already {version.status}; register a new version.",
                                   field="status", value=repr(version.status))


class ModelsHandler(ModelsBase):
    """``GET models?q=&limit=&offset=``"""

    async def get(self) -> None:
        await self.identify("model.list")
        q = self.get_query_argument("q", "") or None
        if q is not None and len(q) > 200:
            raise InvalidModelRequest("q: at most 200 characters.", field="q",
                                      value=shown(q), rule="at most 200 characters")
        limit = max(1, int_arg(self, "limit", 50, MAX_LIST))
        offset = int_arg(self, "offset", 0, 10**9)
        models, total = self.registry.models.list_models(q, limit, offset)
        prefix = self.broker.prefix
        self.write_json({"models": [summary_json(m, prefix) for m in models],
                         "total": total, "limit": limit, "offset": offset})


class ModelHandler(ModelsBase):
    """``GET models/{name}?limit=&offset=``: the model, its versions (newest first)."""

    async def get(self, name: str) -> None:
        await self.caller("model.show", name)
        model = self.registry.models.model(name)
        if model is None:
            raise RegistryNotFound(f"No model named {name!r}. GET models lists them.",
                                   field="name", value=repr(name))
        limit = max(1, int_arg(self, "limit", 100, MAX_LIST))
        offset = int_arg(self, "offset", 0, 10**9)
        versions = self.registry.models.versions(model.id, limit, offset)
        pending = self.registry.aliases.pending(model.id)
        prefix = self.broker.prefix
        self.write_json({
            **summary_json(model, prefix),
            "versions": [version_json(v, prefix) for v in versions],
            "total_versions": model.versions, "limit": limit, "offset": offset,
            "pending_approvals": [a.json() for a in pending]})


class VersionsHandler(ModelsBase):
    """``POST models/{name}/versions``: a new pending version with lineage and class."""

    async def post(self, name: str) -> None:
        who = await self.caller("model.register", name, person=True)
        settings = self.settings
        reg = check_registration(self.json_body(), settings.max_file_bytes,
                                 settings.max_version_bytes)
        lineage = lineage_of(self.broker.engine, who, self.broker.config().data)
        classification = inherit(lineage.inputs, reg.classification)
        version = self.registry.models.create_version(
            name, reg, registrant=who.user, inputs=lineage.inputs,
            classification=classification, run_id=lineage.run_id,
            session_id=who.session_id, kernel_id=who.kernel_id)
        inputs = ",".join(i.dataset for i in lineage.inputs) or "none"
        self.audit(True, f"pending; class {classification}; inputs {inputs}; run "
                         f"{lineage.run_id}; flavor {reg.flavor}",
                   path=f"versions/{version.version}")
        body = version_json(version, self.broker.prefix)
        body["upload"] = f"models/{name}/versions/{version.version}/files/"
        self.write_json(body, status=201)


class VersionHandler(ModelsBase):
    """``GET models/{name}/versions/{N or alias or latest}``"""

    async def get(self, name: str, ref: str) -> None:
        await self.caller("model.show", name)
        version = self.found(name, check_version_ref(ref))
        self.write_json(version_json(version, self.broker.prefix))


class CommitHandler(ModelsBase):
    """``POST models/{name}/versions/{N}/commit`` with ``{"files": {path: sha256}}``"""

    async def post(self, name: str, number: str) -> None:
        who = await self.caller("model.commit", name, person=True)
        version = self.found(name, check_version_ref(number))
        self.own_pending(who, version)
        hashes = check_commit(self.json_body(), [f.path for f in version.files])
        try:
            async with self.registry.version_lock(version.id):  # not amid an upload's write
                ready = self.registry.models.commit(version.id, hashes)
        except RegistryError as exc:
            self.audit(False, f"{exc.error}: {exc.user_message}",
                       path=f"versions/{version.version}")
            raise
        total = sum(f.size for f in ready.files)
        self.audit(True, f"ready; {len(ready.files)} files", nbytes=total,
                   path=f"versions/{ready.version}")
        self.write_json(version_json(ready, self.broker.prefix))
