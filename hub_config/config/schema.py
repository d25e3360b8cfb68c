"""Strict models of the admin YAML (``assay.yaml``).

Every model forbids unknown keys. Cross-field rules that need the whole file
(duplicate slugs, references to groups, GPUs vs inventory) live in ``checks.py``.
"""

from __future__ import annotations

import re
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from .catalog import DataCatalog
from .jobs import JobsSettings
from .models import ModelsSettings

SLUG = r"^[a-z0-9]([a-z0-9-]{0,38}[a-z0-9])?$"
NAME = r"^[a-z0-9]([a-z0-9._-]{0,62}[a-z0-9])?$"
HTTPS_URL = r"^https://"
HTTP_URL = r"^https?://"
URL_PATH = r"^/"
ENV_NAME = r"^[A-Z_][A-Z0-9_]*$"
GPU_ID = r"^[A-Za-z0-9-]{1,64}$"
NAMESPACE = r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$"
STORAGE_URL = r"^(file|s3)://\S+$"
DATABASE_URL = r"^(sqlite|postgresql(\+[a-z0-9]+)?)://\S*$"
MEMORY = re.compile(r"^(\d+(\.\d+)?)([KMGT])$")
_UNITS = {"K": 1024, "M": 1024**2, "G": 1024**3, "T": 1024**4}

# What each pattern means, for error messages: (description, maximum length or None).
PATTERN_HELP: dict[str, tuple[str, int | None]] = {
    SLUG: ("1-40 lowercase ASCII letters, digits and '-', starting and ending with a "
           "letter or digit", 40),
    NAME: ("1-64 lowercase ASCII letters, digits, '.', '_' and '-', starting and ending "
           "with a letter or digit", 64),
    HTTPS_URL: ("an https:// URL", None),
    HTTP_URL: ("an http:// or https:// URL", None),
    URL_PATH: ("a path starting with '/'", None),
    ENV_NAME: ("an environment variable name (A-Z, 0-9 and '_', not starting with a digit)",
               None),
    GPU_ID: ("1-64 ASCII letters, digits and '-'", 64),
    NAMESPACE: ("a Kubernetes namespace: 1-63 lowercase ASCII letters, digits and '-', "
                "starting and ending with a letter or digit", 63),
    STORAGE_URL: ("a file:// or s3:// URL with a location, e.g. file://var/objects or "
                  "s3://bucket/prefix", None),
    DATABASE_URL: ("a sqlite:// or postgresql:// URL, e.g. sqlite:///var/assay.sqlite or "
                   "postgresql+psycopg://user@host/db", None),
}

Slug = Annotated[str, Field(pattern=SLUG)]
Name = Annotated[str, Field(pattern=NAME)]


def memory_bytes(value: str) -> int:
    """``"2G"`` → bytes (JupyterHub's ByteSpecification units)."""
    match = MEMORY.match(value)
    if not match:
        raise ValueError(f"not a memory size: {value!r}")
    return int(float(match.group(1)) * _UNITS[match.group(3)])


def _cpus(value: float) -> str:
    return f"{value:g}"


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=False)


class Cpu(Strict):
    # strict: ``limit: yes`` (a YAML boolean) or ``limit: "2"`` is a mistake, not 1 or 2 CPUs
    guarantee: float | None = Field(None, gt=0, strict=True, allow_inf_nan=False,
                                    description="CPUs reserved for the server")
    limit: float = Field(gt=0, strict=True, allow_inf_nan=False,
                         description="CPUs the server may use at most")

    @model_validator(mode="after")
    def _guarantee_within_limit(self) -> Cpu:
        if self.guarantee is not None and self.guarantee > self.limit:
            raise ValueError(f"guarantee {_cpus(self.guarantee)} exceeds limit "
                             f"{_cpus(self.limit)}")
        return self


class Memory(Strict):
    guarantee: str | None = Field(None, description="memory reserved, e.g. 1G")
    limit: str = Field(description="memory at most, e.g. 2G")

    @field_validator("guarantee", "limit")
    @classmethod
    def _size(cls, value: str | None) -> str | None:
        if value is not None and not MEMORY.match(value):
            raise ValueError(f"must be a size like 512M or 2G (units K, M, G, T), got {value!r}")
        if value is not None and memory_bytes(value) == 0:
            raise ValueError(f"must be more than 0, got {value!r}")
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
    # strict: ``gpus: yes`` (a YAML boolean) must not silently mean one GPU
    gpus: int = Field(0, ge=0, le=16, strict=True)
    dask_workers: int = Field(0, ge=0, le=256, strict=True)
    image: str | None = Field(None, min_length=1, description="image in Kubernetes mode")
    groups: list[Name] = Field(default_factory=list, description="empty: everyone")
    zone: Literal["standard", "secure"] = "standard"
    requires_purpose: bool = Field(False, description="the spawn must state a purpose")
    default: bool = False


class DemoAuth(Strict):
    password: str = Field("assay-demo", min_length=8)


class OAuth(Strict):
    client_id: str = Field(min_length=1)
    client_secret_env: str = Field("ASSAY_OAUTH_CLIENT_SECRET", pattern=ENV_NAME)
    authorize_url: str = Field(pattern=HTTPS_URL)
    token_url: str = Field(pattern=HTTPS_URL)
    userdata_url: str = Field(pattern=HTTPS_URL)
    callback_url: str | None = Field(None, pattern=HTTP_URL)
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
    port: int = Field(8000, ge=1, le=65535, strict=True)
    base_url: str = Field("/", pattern=URL_PATH)
    state_dir: str = Field("var", min_length=1)


class Gpus(Strict):
    source: Literal["inventory", "nvidia-smi", "auto"] = "auto"
    inventory: list[Annotated[str, Field(pattern=GPU_ID)]] = Field(
        default_factory=list
    )
    simulated: bool = Field(False, description="the inventory names no real devices")


class Toleration(Strict):
    key: str
    operator: Literal["Exists", "Equal"] = "Exists"
    value: str | None = None
    effect: Literal["NoSchedule", "PreferNoSchedule", "NoExecute"] | None = None


class Kubernetes(Strict):
    namespace: str = Field("assay", pattern=NAMESPACE)
    image: str = Field("assay-singleuser:0.1.0", min_length=1)
    gpu_resource: str = "nvidia.com/gpu"
    gpu_node_selector: dict[str, str] = Field(
        default_factory=lambda: {"nvidia.com/gpu.present": "true"}
    )
    gpu_tolerations: list[Toleration] = Field(
        default_factory=lambda: [Toleration(key="nvidia.com/gpu", effect="NoSchedule")]
    )
    broker_url: str | None = Field(
        None, pattern=HTTP_URL,
        description="scheme://host[:port] at which pods (notebook servers, job runs) reach the "
        "Assay service inside the cluster, e.g. http://assay-broker.assay.svc:8002; unset: "
        "the address the service listens on, which pods can reach only if it is routable")


class Storage(Strict):
    url: str = Field("file://var/objects", pattern=STORAGE_URL)


class Database(Strict):
    url: str = Field("sqlite:///var/assay.sqlite", pattern=DATABASE_URL)


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
    data: DataCatalog = DataCatalog()
    jobs: JobsSettings = JobsSettings()
    models: ModelsSettings = ModelsSettings()

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

    def broker_url_for_pods(self) -> str | None:
        """Where servers and job runs reach the Assay service when it is not the address
        it listens on (``kubernetes.broker_url`` in Kubernetes mode), without a final '/'."""
        url = self.kubernetes.broker_url if self.mode == "kubernetes" else None
        return url.rstrip("/") if url else None
