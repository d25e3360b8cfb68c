"""What a job submit may say (``JobSpec``), run statuses, drift rules, and the stored
``Job`` and ``Run`` records as the store hands them out.

Strict: unknown fields, wrong types and out-of-range values are refused, and every
problem names the field, the value given and what would be valid (``InvalidJob``).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from ..config.load import _message, format_path
from ..errors import InvalidJob
from .schedule import CatchUp, check_cron, check_timezone

JOB_NAME = r"^[a-z0-9]([a-z0-9._-]{0,62}[a-z0-9])?$"
METRIC_NAME = r"^[A-Za-z0-9_.-]{1,64}$"  # as assay.kernels.jobs.record
PROFILE_SLUG = r"^[a-z0-9]([a-z0-9-]{0,38}[a-z0-9])?$"
WEBHOOK_URL = r"^https?://[^\s/?#@]+(/[^\s#]*)?$"
MAX_TIMEOUT_S = 7 * 24 * 3600
_HELP = {
    JOB_NAME: "1-64 lowercase ASCII letters, digits, '.', '_' and '-', starting and "
              "ending with a letter or digit",
    METRIC_NAME: "1-64 ASCII letters, digits, '_', '.' and '-'",
    PROFILE_SLUG: "a profile slug (lowercase letters, digits and '-')",
    WEBHOOK_URL: "an http:// or https:// URL without user name or password",
}


class RunStatus(StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    TIMED_OUT = "timed_out"
    CANCELLED = "cancelled"
    INTERRUPTED = "interrupted"


FINAL = frozenset({RunStatus.SUCCEEDED, RunStatus.FAILED, RunStatus.TIMED_OUT,
                   RunStatus.CANCELLED, RunStatus.INTERRUPTED})
RETRYABLE = frozenset({RunStatus.FAILED, RunStatus.TIMED_OUT, RunStatus.INTERRUPTED})


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)


class DriftRule(_Strict):
    """``sigma``: flag a value outside mean ± k·sd of the last ``window`` runs (once at
    least ``min_history`` runs recorded the metric); ``bounds``: outside [min, max]."""

    metric: str = Field(pattern=METRIC_NAME)
    kind: Literal["sigma", "bounds"]
    k: float = Field(3.0, gt=0, le=100, allow_inf_nan=False)
    window: int = Field(10, ge=2, le=1000)
    min_history: int = Field(3, ge=2, le=1000)
    min: float | None = Field(None, allow_inf_nan=False)
    max: float | None = Field(None, allow_inf_nan=False)

    @model_validator(mode="after")
    def _consistent(self) -> DriftRule:
        if self.kind == "bounds" and self.min is None and self.max is None:
            raise ValueError("a 'bounds' rule needs 'min', 'max' or both")
        if self.kind == "sigma" and (self.min is not None or self.max is not None):
            raise ValueError("'min' and 'max' belong to 'bounds' rules; a 'sigma' rule "
                             "uses 'k', 'window' and 'min_history'")
        if self.min is not None and self.max is not None and self.min > self.max:
            raise ValueError(f"min {self.min:g} is greater than max {self.max:g}")
        if self.min_history > self.window:
            raise ValueError(f"min_history {self.min_history} exceeds window {self.window}")
        return self


class JobSpec(_Strict):
    """A job as submitted: the notebook's bytes travel separately and are pinned."""

    name: str = Field(pattern=JOB_NAME)
    notebook_path: str = Field(min_length=1, max_length=1024,
                               description="where the notebook came from, for display")
    parameters: dict[str, Any] = Field(default_factory=dict)
    profile: str = Field(pattern=PROFILE_SLUG)
    schedule: str | None = Field(None, description="cron; none: on demand, run once now")
    timezone: str = "UTC"
    timeout_s: int | None = Field(3600, ge=1, le=MAX_TIMEOUT_S,
                                  description="seconds; then the kernel is killed")
    retries: int = Field(0, ge=0, le=10)
    retry_backoff_s: float = Field(60.0, ge=0, le=86400, allow_inf_nan=False)
    max_concurrency: int = Field(1, ge=1, le=100)
    catchup: CatchUp = "latest"
    webhook: str | None = Field(None, max_length=2048, pattern=WEBHOOK_URL)
    drift_rules: list[DriftRule] = Field(default_factory=list, max_length=50)
    paused: bool = False

    @field_validator("schedule")
    @classmethod
    def _cron(cls, value: str | None) -> str | None:
        return None if value is None else check_cron(value)

    @field_validator("timezone")
    @classmethod
    def _zone(cls, value: str) -> str:
        check_timezone(value)
        return value

    @classmethod
    def parse(cls, data: object) -> JobSpec:
        """Validate a submit body; ``InvalidJob`` lists every problem."""
        if not isinstance(data, dict):
            raise InvalidJob([f"(top level): must be a mapping of job fields, got "
                              f"{type(data).__name__}"])
        try:
            return cls.model_validate(data)
        except ValidationError as exc:
            raise InvalidJob(problems(exc)) from None


def _valid_keys(loc: tuple[Any, ...]) -> list[str]:
    model = DriftRule if loc and loc[0] == "drift_rules" and len(loc) > 2 else JobSpec
    return sorted(model.model_fields)


def _explain_pattern(err: dict[str, Any]) -> dict[str, Any]:
    pattern = err.get("ctx", {}).get("pattern")
    if err["type"] == "string_pattern_mismatch" and pattern in _HELP:
        return {**err, "type": "value_error",
                "ctx": {"error": f"must be {_HELP[pattern]}, got {err.get('input')!r}"}}
    return err


def problems(exc: ValidationError) -> list[str]:
    """``field: what is wrong, what was given, what is valid`` for each error."""
    out = []
    for err in exc.errors():
        loc = tuple(p for p in err["loc"] if p not in ("function-after",))
        out.append(f"{format_path(loc)}: {_message(_explain_pattern(err), _valid_keys(loc))}")
    return out


@dataclass(frozen=True)
class Job:
    """A stored job (``assay_jobs``); times are aware UTC datetimes."""

    id: int
    owner: str
    name: str
    notebook_key: str
    notebook_sha256: str
    notebook_path: str
    parameters: dict[str, Any]
    profile: str
    schedule: str | None
    timezone: str
    timeout_s: int | None
    retries: int
    retry_backoff_s: float
    max_concurrency: int
    catchup: CatchUp
    webhook: str | None
    drift_rules: list[DriftRule]
    created_at: datetime
    paused: bool
    last_slot: datetime | None


@dataclass(frozen=True)
class Run:
    """A stored run (``assay_runs``): one attempt of a slot, or of an on-demand request."""

    id: int
    job_id: int
    slot: datetime | None
    attempt: int
    status: RunStatus
    not_before: datetime
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    parameters: dict[str, Any]
    notebook_sha256: str
    profile: str
    image: str | None
    executor_ref: str | None
    workdir: str | None
    cells_done: int
    cells_total: int
    error: str | None
    outputs: dict[str, str]
    drift: list[dict[str, Any]] | None
    session_id: str | None

    @property
    def duration_s(self) -> float | None:
        if self.started_at is None or self.finished_at is None:
            return None
        return (self.finished_at - self.started_at).total_seconds()
