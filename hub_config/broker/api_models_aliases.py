"""Aliases and their approvals: ``PUT``/``DELETE models/{name}/aliases/{alias}`` and
``POST models/{name}/aliases/{alias}/approve``.

An unprotected alias (anything not in ``models.protected_aliases``, default
``production``) moves at once for anyone entitled to read the version's inputs. A
protected one gets a pending request (202); it moves when someone approves who did not
register the version (separation of duties) and may read its inputs. Admins may remove a
protected alias directly. Requests, approvals and refusals are all audited
(``model.alias.set``, ``model.alias.req``, ``model.alias.del``, ``model.approve``,
``model.refuse``).
"""

from __future__ import annotations

from typing import Any

from ..errors import (
    BrokerError,
    InvalidModelRequest,
    RegistryAccessDenied,
    RegistryConflict,
    RegistryNotFound,
)
from ..registry.access import verdict
from ..registry.aliases import Approval, check_alias, check_approver, is_protected
from ..registry.rules import shown
from ..registry.store import ModelSummary, VersionRecord
from .api_models import ModelsBase
from .policy import Identity


def version_of(body: dict, *, nullable: bool = False) -> int | None:
    value = body.get("version")
    if value is None and nullable:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or not 0 < value < 2**31:
        raise InvalidModelRequest(f"version: {shown(value)} is not a version number.",
                                  field="version", value=shown(value),
                                  rule="a whole number >= 1" + (" or null" if nullable
                                                                 else ""))
    return value


class AliasBase(ModelsBase):
    async def target(self, action: str, name: str, alias: str
                     ) -> tuple[Identity, ModelSummary, str]:
        who = await self.caller(action, name, person=True)
        alias = check_alias(alias)
        model = self.registry.models.model(name)
        if model is None:
            raise RegistryNotFound(f"No model named {name!r}.", field="name",
                                   value=repr(name))
        return who, model, alias

    def ready(self, name: str, number: int) -> VersionRecord:
        version = self.found(name, number)
        if version.status != "ready":
            raise RegistryConflict(f"Version {number} of {name} is still pending; only "
                                   "committed versions get aliases.", field="version",
                                   value=str(number))
        return version

    def entitled(self, who: Identity, version: VersionRecord, doing: str) -> None:
        """``who`` may read every input of ``version`` (zone aside: no bytes move)."""
        config = self.broker.config()
        answer = verdict(who, version.classification, [i.dataset for i in version.inputs],
                         config.data, config.profiles, config.models.class_zones,
                         zone=False)
        if not answer.allowed:
            raise RegistryAccessDenied(answer.message(who.user, doing), model=version.name,
                                       version=version.version, dataset=answer.dataset,
                                       missing=answer.missing, ask=answer.ask)

    def protected(self, alias: str) -> bool:
        return is_protected(alias, self.settings.protected_aliases)

    def answer(self, model: ModelSummary, alias: str, status: int = 200,
               approval: Approval | None = None) -> None:
        fresh = self.registry.models.model(model.name) or model
        body: dict[str, Any] = {"name": model.name, "alias": alias,
                                "version": fresh.aliases.get(alias),
                                "aliases": fresh.aliases}
        if approval is not None:
            body.update(approval.json())
        self.write_json(body, status=status)


class AliasHandler(AliasBase):
    async def put(self, name: str, alias: str) -> None:
        who, model, alias = await self.target("model.alias.set", name, alias)
        number = version_of(self.json_body())
        assert number is not None
        version = self.ready(name, number)
        self.entitled(who, version, f"point {name}:{alias} at version {number}")
        if self.protected(alias):
            self.action = "model.alias.req"
            approval = self.registry.aliases.request(model.id, alias, number, who.user)
            self.audit(True, f"{alias} -> {number}: approval {approval.id} pending",
                       path=f"aliases/{alias}")
            return self.answer(model, alias, 202, approval)
        self.registry.aliases.set(model.id, alias, number, who.user)
        self.audit(True, f"{alias} -> {number}", path=f"aliases/{alias}")
        return self.answer(model, alias)

    async def delete(self, name: str, alias: str) -> None:
        who, model, alias = await self.target("model.alias.del", name, alias)
        current = self.registry.aliases.current(model.id, alias)
        if current is None:
            raise RegistryNotFound(f"Model {name} has no alias {alias!r}.", field="alias",
                                   value=repr(alias))
        if self.protected(alias) and not who.admin:
            self.action = "model.alias.req"
            approval = self.registry.aliases.request(model.id, alias, None, who.user)
            self.audit(True, f"remove {alias} (now {current}): approval {approval.id} "
                             "pending", path=f"aliases/{alias}")
            return self.answer(model, alias, 202, approval)
        self.registry.aliases.delete(model.id, alias)
        how = " by an admin" if self.protected(alias) else ""
        self.audit(True, f"removed {alias} (was {current}){how}", path=f"aliases/{alias}")
        return self.answer(model, alias)


class ApproveHandler(AliasBase):
    """``POST …/aliases/{alias}/approve`` with ``{"version": N}`` (``null``: approve the
    alias's removal)."""

    async def post(self, name: str, alias: str) -> None:
        who, model, alias = await self.target("model.approve", name, alias)
        number = version_of(self.json_body(), nullable=True)
        self.action = "model.refuse"  # any refusal from here on
        request = self.pending_request(model, alias, number)
        subject = number if number is not None else \
            self.registry.aliases.current(model.id, alias)
        if subject is None:
            raise RegistryConflict(f"{name}:{alias} is not set; nothing to remove.",
                                   field="version")
        version = self.found(name, subject)
        try:
            check_approver(who.user, version.registrant, name, version.version)
            self.entitled(who, version, f"approve {name}:{alias} -> version "
                                        f"{version.version}")
        except BrokerError as exc:
            self.audit(False, f"{getattr(exc, 'error', 'refused')}: approval {request.id}",
                       path=f"aliases/{alias}")
            raise
        approved = self.registry.aliases.approve(request, who.user)
        self.action = "model.approve"
        change = f"{alias} -> {number}" if number is not None else f"remove {alias}"
        self.audit(True, f"{change}: approval {request.id} requested by "
                         f"{request.requested_by}", path=f"aliases/{alias}")
        self.answer(model, alias, 200, approved)

    def pending_request(self, model: ModelSummary, alias: str, number: int | None
                        ) -> Approval:
        pending = self.registry.aliases.pending(model.id, alias)
        if not pending or pending[-1].version != number:
            what = f"move {alias} to version {number}" if number is not None else \
                f"remove {alias}"
            raise RegistryConflict(f"No pending request to {what} of {model.name}; "
                                   f"PUT models/{model.name}/aliases/{alias} asks for one.",
                                   field="version", value=str(number))
        return pending[-1]

