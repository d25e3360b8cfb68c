"""Strict models of the admin YAML (``assay.yaml``).

Every model forbids unknown keys. Cross-field rules that need the whole file
(duplicate slugs, references to groups, GPUs vs inventory) live in ``checks.py``.
"""

from __future__ import annotations

import re
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

SLUG = r"^[a-z0-9]([a-z0-9-]{0,38}[a-z0-9])?$"
NAME = r"^[a-z0-9]([a-z0-9._-]{0,62}[a-z0-9])?$"
MEMORY = re.compile(r"^(\d+(\.\d+)?)([KMGT])$")
_UNITS = {"K": 1024, "M": 1024**2, "G": 1024**3, "T": 1024**4}

Slug = Annotated[str, Field(pattern=SLUG)]
Name = Annotated[str, Field(pattern=NAME)]


def memory_bytes(value: str) -> int:
    """``"2G"`` → bytes (JupyterHub's ByteSpecification units)."""
    match = MEMORY.match(value)
    if not match:
        raise ValueError(f"not a memory size: {value!r}")
    return int(float(match.group(1)) * _UNITS[match.group(3)])


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=False)


class Cpu(Strict):
    guarantee: float | None = Field(None, gt=0, description="CPUs reserved for the server")
    limit: float = Field(gt=0, description="CPUs the server may use at most")

    @model_validator(mode="after")
    def _guarantee_within_limit(self) -> Cpu:
        if self.guarantee is not None and self.guarantee > self.limit:
            raise ValueError(f"guarantee {self.guarantee} exceeds limit {self.limit}")
        return self


class Memory(Strict):
    guarantee: str | None = Field(None, description="memory reserved, e.g. 1G")
    limit: str = Field(description="memory at most, e.g. 2G")

    @field_validator("guarantee", "limit")
    @classmethod
    def _size(cls, value: str | None) -> str | None:
        if value is not None and not MEMORY.match(value):
            raise ValueError(f"must be a size like 512M or 2G (units K, M, G, T), got {value!r}")
        return value

    @model_validator(mode="after")
    def _guarantee_within_limit(self) -> Memory:
        if self.guarantee and memory_bytes(self.guarantee) > memory_bytes(self.limit):
            raise ValueError(f"guarantee {self.guarantee} exceeds limit {self.limit}")
        return self


class Profile(Strict):
    slug: Slug
    display_name: str = Field(min_length=1, max_length=80)
    description: str = ""
    cpu: Cpu
    memory: Memory
    gpus: int = Field(0, ge=0, le=16)
    dask_workers: int = Field(0, ge=0, le=256)
    image: str | None = Field(None, min_length=1, description="image in Kubernetes mode")
    groups: list[Name] = Field(default_factory=list, description="empty: everyone")
    zone: Literal["standard", "secure"] = "standard"
    default: bool = False


class DemoAuth(Strict):
    password: str = Field("assay-demo", min_length=8)


class OAuth(Strict):
    client_id: str = Field(min_length=1)
    client_secret_env: str = Field("ASSAY_OAUTH_CLIENT_SECRET", pattern=r"^[A-Z_][A-Z0-9_]*$")
    authorize_url: str = Field(pattern=r"^https://")
    token_url: str = Field(pattern=r"^https://")
    userdata_url: str = Field(pattern=r"^https://")
    callback_url: str | None = Field(None, pattern=r"^https?://")
    scope: list[str] = Field(default_factory=lambda: ["openid", "profile", "email", "groups"])
    username_claim: str = "preferred_username"
    groups_claim: str = "groups"
    admin_groups: list[str] = Field(default_factory=list)
    allowed_groups: list[str] = Field(default_factory=list)


class Auth(Strict):
    type: Literal["demo", "oauth"] = "demo"
    demo: DemoAuth = DemoAuth()
    oauth: OAuth | None = None

    @model_validator(mode="after")
    def _oauth_present(self) -> Auth:
        if self.type == "oauth" and self.oauth is None:
            raise ValueError("type is 'oauth' but the 'oauth' section is missing")
        return self


class Hub(Strict):
    ip: str = "127.0.0.1"
    port: int = Field(8000, ge=1, le=65535)
    base_url: str = Field("/", pattern=r"^/")
    state_dir: str = Field("var", min_length=1)


class Gpus(Strict):
    source: Literal["inventory", "nvidia-smi", "auto"] = "auto"
    inventory: list[Annotated[str, Field(pattern=r"^[A-Za-z0-9-]{1,64}$")]] = Field(
        default_factory=list
    )
    simulated: bool = Field(False, description="the inventory names no real devices")


class Toleration(Strict):
    key: str
    operator: Literal["Exists", "Equal"] = "Exists"
    value: str | None = None
    effect: Literal["NoSchedule", "PreferNoSchedule", "NoExecute"] | None = None


class Kubernetes(Strict):
    namespace: str = Field("assay", pattern=r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$")
    image: str = Field("assay-singleuser:0.1.0", min_length=1)
    gpu_resource: str = "nvidia.com/gpu"
    gpu_node_selector: dict[str, str] = Field(
        default_factory=lambda: {"nvidia.com/gpu.present": "true"}
    )
    gpu_tolerations: list[Toleration] = Field(
        default_factory=lambda: [Toleration(key="nvidia.com/gpu", effect="NoSchedule")]
    )


class Storage(Strict):
    url: str = Field("file://var/objects", pattern=r"^(file|s3)://\S+$")


class Database(Strict):
    url: str = Field(
        "sqlite:///var/assay.sqlite", pattern=r"^(sqlite|postgresql(\+[a-z0-9]+)?)://\S*$"
    )


class AssayConfig(Strict):
    mode: Literal["local", "kubernetes"] = "local"
    hub: Hub = Hub()
    auth: Auth = Auth()
    admins: list[Name] = Field(default_factory=list)
    groups: dict[Name, list[Name]] = Field(default_factory=dict)
    profiles: list[Profile] = Field(min_length=1)
    gpus: Gpus = Gpus()
    kubernetes: Kubernetes = Kubernetes()
    storage: Storage = Storage()
    database: Database = Database()

    def users(self) -> list[str]:
        """Every user the file names (admins and group members), sorted."""
        names = set(self.admins)
        for members in self.groups.values():
            names.update(members)
        return sorted(names)

    def groups_of(self, user: str) -> list[str]:
        return sorted(g for g, members in self.groups.items() if user in members)

    def profile(self, slug: str) -> Profile | None:
        return next((p for p in self.profiles if p.slug == slug), None)
