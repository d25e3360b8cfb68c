"""The one exception hierarchy of Assay.

Every error has two audiences, as JupyterHub's ``SpawnException`` does:
``user_message`` is what the person sees (actionable, no internals, no secrets),
``log_detail`` is what the log keeps (may name holders, paths, ids).
Errors that reach JupyterHub's handlers subclass ``tornado.web.HTTPError`` so that
the form and the REST API both answer with the right status and message.
"""

from __future__ import annotations

from tornado import web


class AssayError(Exception):
    """Base of every Assay error."""

    status_code = 500

    def __init__(self, user_message: str, log_detail: str | None = None):
        super().__init__(user_message)
        self.user_message = user_message
        self.log_detail = log_detail or user_message


class ConfigError(AssayError):
    """The admin YAML is invalid; ``errors`` lists every problem with its path."""

    def __init__(self, source: str, errors: list[str]):
        self.source = source
        self.errors = list(errors)
        lines = "\n".join(f"  {e}" for e in self.errors)
        super().__init__(f"Invalid Assay config {source}:\n{lines}")


class SpawnRefused(web.HTTPError, AssayError):
    """A spawn request Assay refuses; shown on the spawn form and by the REST API."""

    def __init__(self, status_code: int, user_message: str, log_detail: str | None = None):
        AssayError.__init__(self, user_message, log_detail)
        web.HTTPError.__init__(self, status_code, "%s", self.log_detail, reason=None)
        # JupyterHub shows ``jupyterhub_message`` to the user (form page, API body).
        self.jupyterhub_message = user_message

    def __str__(self) -> str:
        return self.user_message


class UnknownProfile(SpawnRefused):
    def __init__(self, slug: str, valid: list[str]):
        options = ", ".join(valid) or "(none)"
        super().__init__(400, f"No such profile: {slug}. Options include: {options}")


class ProfileForbidden(SpawnRefused):
    def __init__(self, slug: str, user: str, groups: list[str], admins: str):
        needed = " or ".join(f"'{g}'" for g in groups)
        super().__init__(
            403,
            f"Profile '{slug}' requires membership in group {needed}; "
            f"{user} is not a member. Ask {admins} to add you.",
        )


class PurposeRequired(SpawnRefused):
    def __init__(self, slug: str, problem: str = "requires"):
        if problem == "requires":
            text = (f"Profile '{slug}' requires a purpose: say briefly why you need it "
                    "(e.g. 'trial 042 safety review'). It is recorded with every data read.")
        else:
            text = ("The purpose must be at most 500 characters of text without control "
                    "characters.")
        super().__init__(400, text)


class BrokerUnavailable(SpawnRefused):
    def __init__(self, detail: str):
        super().__init__(503, "The Assay data service is not answering, so no data "
                         "credential could be issued. Try again in a minute.", detail)


class GPUUnavailable(SpawnRefused):
    def __init__(self, slug: str, wanted: int, free: int, total: int, holders: str):
        user_msg = (
            f"Profile '{slug}' needs {wanted} GPU(s) but only {free} of {total} are free. "
            "Try again later or choose a profile with fewer GPUs."
        )
        log_msg = f"{user_msg} Held by: {holders or 'nobody'}"
        super().__init__(409, user_msg, log_msg)
        self.admin_message = log_msg


class InsecureBind(AssayError):
    """The demo authenticator was asked to listen beyond loopback."""


class BrokerError(AssayError):
    """An error the data broker answers with ``status_code`` and a JSON body.

    ``body`` is what the client sees (never secrets, never storage locations);
    ``log_detail`` may say more for the log.
    """

    status_code = 400
    error = "bad_request"

    def body(self) -> dict:
        return {"error": self.error, "message": self.user_message}


class BadRequest(BrokerError):
    status_code, error = 400, "bad_request"


class InvalidPath(BrokerError):
    status_code, error = 400, "invalid_path"


class Unauthorized(BrokerError):
    status_code, error = 401, "unauthorized"


class NotFound(BrokerError):
    status_code, error = 404, "not_found"


class PayloadTooLarge(BrokerError):
    status_code, error = 413, "payload_too_large"


class RangeNotSatisfiable(BrokerError):
    status_code, error = 416, "range_not_satisfiable"

    def __init__(self, size: int):
        super().__init__(f"Requested range not satisfiable; the file has {size} bytes.")
        self.size = size


class AccessDenied(BrokerError):
    """A read refused by the policy: names what is missing and whom to ask."""

    status_code, error = 403, "access_denied"

    def __init__(self, user_message: str, *, dataset: str, missing: list[str], ask: str):
        super().__init__(user_message)
        self.dataset, self.missing, self.ask = dataset, missing, ask

    def body(self) -> dict:
        return {**super().body(), "dataset": self.dataset, "missing": self.missing,
                "ask": self.ask}


class AuditUnavailable(BrokerError):
    """The audit log cannot take records: every read must be refused."""

    status_code, error = 503, "audit_unavailable"


class StorageError(BrokerError):
    """The object store failed; the client sees no storage details."""

    status_code, error = 502, "storage_error"


class JobError(BrokerError):
    """A job or run request refused; ``problems`` lists each fault with its field."""

    status_code, error = 400, "job_error"

    def __init__(self, user_message: str, log_detail: str | None = None, *,
                 problems: list[str] | None = None):
        super().__init__(user_message, log_detail)
        self.problems = list(problems or [user_message])

    def body(self) -> dict:
        return {**super().body(), "problems": self.problems}


class InvalidJob(JobError):
    """A job definition that breaks the rules (each problem names field, value, choices)."""

    status_code, error = 400, "invalid_job"

    def __init__(self, problems: list[str]):
        super().__init__("Invalid job: " + "; ".join(problems), problems=problems)


class InvalidParameters(JobError):
    """Parameters that do not match the notebook's ``parameters`` cell."""

    status_code, error = 400, "invalid_parameters"

    def __init__(self, problems: list[str]):
        super().__init__("Invalid parameters: " + "; ".join(problems), problems=problems)


class JobNotFound(JobError):
    status_code, error = 404, "job_not_found"


class RunNotFound(JobError):
    status_code, error = 404, "run_not_found"


class JobExists(JobError):
    status_code, error = 409, "job_exists"


class RunNotCancellable(JobError):
    status_code, error = 409, "run_not_cancellable"


class JobForbidden(JobError):
    """A job request this credential may not make (e.g. metrics for another run)."""

    status_code, error = 403, "job_forbidden"


class WebhookRefused(JobError):
    """A webhook URL whose host is not in ``jobs.webhook_hosts`` (or not http/https)."""

    status_code, error = 400, "webhook_refused"


class InvalidSecret(JobError):
    status_code, error = 400, "invalid_secret"


class SecretNotFound(JobError):
    status_code, error = 404, "secret_not_found"


class SecretsUnavailable(JobError):
    """No usable encryption key, or a stored value cannot be decrypted with it."""

    status_code, error = 503, "secrets_unavailable"


class InvalidMetric(JobError):
    status_code, error = 400, "invalid_metric"


# -- jobs: kernel-side metrics, executors, output objects ------------------------------


class MetricError(AssayError, ValueError):
    """``assay.jobs.record`` was given a metric name or value it cannot store."""


class ExecutorError(AssayError):
    """A run could not be started, found or stopped by its executor."""


class InvalidObjectKey(InvalidPath):
    """An output object key that is not a plain relative ASCII path."""


class ObjectNotFound(NotFound):
    """No output object under that key."""
