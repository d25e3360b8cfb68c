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


# -- models (kernel): assay.models, the registry's client ------------------------------


class ModelError(AssayError):
    """A model could not be registered, found or loaded; the message says what to do."""

    def _render_traceback_(self) -> list[str]:
        """What IPython shows: the message, not the HTTP client's frames."""
        return [f"\x1b[0;31m{type(self).__name__}\x1b[0m: {self}"]


class ModelServiceError(ModelError):
    """The model registry refused a request or could not be reached (``status`` 0).

    ``field`` names the offending field when the service said which; ``details`` is the
    service's error object as sent.
    """

    def __init__(self, message: str, *, status: int = 0, field: str = "",
                 details: dict | None = None):
        super().__init__(message)
        self.status, self.field, self.details = status, field, dict(details or {})


class InvalidModelInput(ModelServiceError, ValueError):
    """A name, metric, description or parameter the registry does not accept (400)."""


class ModelTooLarge(ModelServiceError):
    """A request body or artifact beyond the registry's size limits (413)."""


class ModelNotFound(ModelServiceError, LookupError):
    """No such model, version, alias or file (``assay.models.list()`` lists models)."""


class ModelAccessDenied(ModelServiceError, PermissionError):
    """The registry refused: ``missing`` lists the missing entitlements, ``ask`` whom to ask."""

    def __init__(self, message: str, *, status: int = 403, field: str = "",
                 details: dict | None = None):
        super().__init__(message, status=status, field=field, details=details)
        info = self.details
        self.missing = [str(m) for m in info.get("missing") or []]
        self.ask = str(info.get("ask") or "")


class ModelConflict(ModelServiceError):
    """The request conflicts with the registry's state (409), e.g. a version not pending."""


class ModelIntegrityError(ModelError):
    """An artifact whose bytes do not match the sha256 recorded for it: nothing was
    deserialised (or, while registering, nothing was committed)."""

    def __init__(self, message: str, *, path: str = "", expected: str = "", actual: str = ""):
        super().__init__(message)
        self.path, self.expected, self.actual = path, expected, actual


class ModelFormatError(ModelError, TypeError):
    """An object that cannot be stored as a model, or an artifact that cannot be loaded."""


# -- model registry (issue 5): the service side ---------------------------------------


class FieldRefusal(BrokerError):
    """A refused request whose body names the ``field``, the offending ``value`` (a safe,
    truncated repr) and the ``rule`` it breaks (valid range or choices), when there is one."""

    def __init__(self, user_message: str, log_detail: str | None = None, *,
                 field: str | None = None, value: str | None = None,
                 rule: str | None = None, **extra: object):
        super().__init__(user_message, log_detail)
        self.field, self.value, self.rule = field, value, rule
        self.extra = extra

    def body(self) -> dict:
        out = super().body()
        out.update({k: v for k, v in (("field", self.field), ("value", self.value),
                                      ("rule", self.rule)) if v is not None})
        out.update(self.extra)
        return out


class RegistryError(FieldRefusal):
    """A model-registry request refused."""

    status_code, error = 400, "model_error"


class InvalidModelRequest(RegistryError):
    """A name, field or body that breaks the registry's rules (400)."""

    status_code, error = 400, "invalid_model_request"


class RegistryNotFound(RegistryError):
    status_code, error = 404, "model_not_found"


class RegistryConflict(RegistryError):
    """The request does not fit the version's state (not pending, hash mismatch, no
    pending approval to decide)."""

    status_code, error = 409, "model_conflict"


class RegistryForbidden(RegistryError):
    """This caller may not make this change (someone else's pending version, a service
    token where a person is needed)."""

    status_code, error = 403, "model_forbidden"


class SeparationOfDuties(RegistryForbidden):
    """The approver registered the version: another person must approve."""

    status_code, error = 403, "separation_of_duties"


class RegistryTooLarge(RegistryError, PayloadTooLarge):
    status_code, error = 413, "payload_too_large"


class RegistryAccessDenied(AccessDenied):
    """Reading a version's artifacts (or approving it) needs what reading every one of
    its inputs needs, and a zone that allows its class; same shape as a data denial."""

    def __init__(self, user_message: str, *, model: str, version: int, dataset: str,
                 missing: list[str], ask: str):
        super().__init__(user_message, dataset=dataset, missing=missing, ask=ask)
        self.model, self.version = model, version

    def body(self) -> dict:
        return {**super().body(), "model": self.model, "version": self.version}


# -- dask: notebook clusters (assay.dask) ----------------------------------------------


class DaskError(AssayError):
    """``assay.dask`` cannot start the cluster asked for; the message says what to do."""

    def _render_traceback_(self) -> list[str]:
        """What IPython shows: the message, not the frames."""
        return [f"\x1b[0;31m{type(self).__name__}\x1b[0m: {self}"]


class DaskUnavailable(DaskError):
    """Not on a server whose profile has Dask workers (or not in an Assay server at all)."""


class DaskLimitExceeded(DaskError, ValueError):
    """An override beyond the profile's bounds, or one that is not an option at all;
    names the option, the value and what is valid."""


# -- GPU ledger (database-backed) -------------------------------------------------------


class GPULedgerBusy(SpawnRefused):
    """A GPU ledger change kept colliding with other processes' changes (database
    conflicts on every attempt); nothing was changed."""

    def __init__(self, action: str, attempts: int, detail: str):
        super().__init__(
            503,
            f"The GPU ledger is busy: could not {action} after {attempts} attempts because "
            "other spawns or jobs were changing it at the same moment. Nothing was changed; "
            "try again in a minute. If this persists, ask an Assay admin to check the "
            "database (database.url).",
            f"GPU ledger: {action} failed {attempts} times: {detail}")


# -- deployment and kernelspecs: `assay deploy render`, `assay kernels install` ----------


class DeployError(AssayError):
    """The Kubernetes deployment cannot be rendered from this config; ``problems`` names
    each field, its value and what would be valid."""

    def __init__(self, problems: list[str]):
        self.problems = list(problems)
        lines = "\n".join(f"  {p}" for p in self.problems)
        super().__init__(f"Cannot render the Kubernetes deployment:\n{lines}")


class KernelSetupError(AssayError):
    """``assay kernels install`` would overwrite a server setting someone else made."""


# -- dask: clusters the Assay service creates for notebooks (Kubernetes mode) ------------


class DaskRefused(FieldRefusal):
    """A Dask cluster request the Assay service refuses."""

    status_code, error = 400, "dask_refused"


class DaskForbidden(DaskRefused):
    """Not a notebook server's credential, or a profile without Dask workers."""

    status_code, error = 403, "dask_forbidden"


class DaskNotFound(DaskRefused):
    status_code, error = 404, "dask_cluster_not_found"


class DaskConflict(DaskRefused):
    """The session already has a cluster (named in the body), or it is being deleted."""

    status_code, error = 409, "dask_cluster_exists"


class DaskBackendError(DaskRefused):
    """The Kubernetes API failed or refused; the client sees no API details."""

    status_code, error = 502, "dask_backend_error"
