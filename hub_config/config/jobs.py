"""The ``jobs:`` section of ``assay.yaml``: webhook hosts, the global queue, the tick.

Webhooks go only to the hosts listed here (exact host names or IP literals, no
wildcards), so a job owner cannot make the hub call an internal address such as a
cloud metadata endpoint.
"""

from __future__ import annotations

import re

from pydantic import BaseModel, ConfigDict, Field, field_validator

_LABEL = r"[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
HOST_NAME = re.compile(rf"^{_LABEL}(\.{_LABEL})*\.?$")
IP_LITERAL = re.compile(r"^\[?[0-9A-Fa-f:.]+\]?$")
HOST_HELP = "a host name or IP address without scheme, port or path, e.g. hooks.example.org"


def normal_host(host: str) -> str:
    """Lower case, IPv6 brackets and a final dot removed: the form hosts are compared in."""
    return host.strip("[]").lower().rstrip(".")


class JobsSettings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    webhook_hosts: list[str] = Field(
        default_factory=lambda: ["127.0.0.1", "localhost"],
        description="hosts job webhooks may be sent to; any other host is refused")
    max_concurrent_runs: int = Field(2, ge=1, le=1000, strict=True,
                                     description="runs executing at once, all jobs together")
    tick_seconds: float = Field(1.0, gt=0, le=3600, strict=True, allow_inf_nan=False,
                                description="seconds between two scheduler passes")

    keep_run_folders_hours: float = Field(
        168.0, ge=0, le=100_000, strict=True, allow_inf_nan=False,
        description="hours a run's scratch folder is kept after the run ended (its outputs "
        "stay in the object store); 0 deletes it at the next sweep")

    @field_validator("webhook_hosts")
    @classmethod
    def _hosts(cls, hosts: list[str]) -> list[str]:
        for host in hosts:
            if len(host) > 253 or not (HOST_NAME.match(host) or IP_LITERAL.match(host)):
                raise ValueError(f"each host must be {HOST_HELP}, got {host!r}")
        return [normal_host(h) for h in hosts]
