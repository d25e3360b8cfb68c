"""The notebook API of the Assay model registry (also importable as ``assay.models``).

>>> import assay.models
>>> v = assay.models.register(clf, "churn", metrics={"auc": 0.91})
>>> v.version, v.classification, v.lineage        # lineage: what this kernel read
>>> clf = assay.models.load("churn", "production")  # every sha256 checked first
>>> assay.models.list(), assay.models.get("churn", 3)
>>> assay.models.set_alias("churn", "production", 3)  # a second person approves:
>>> assay.models.approve("churn", "production", 3)

Registering serialises the model (skops for scikit-learn, a state dict for PyTorch,
joblib with a warning for anything else), asks the registry for a new version, streams
each file up while hashing it and commits the hashes. The registry, not this kernel,
works out the lineage (the datasets this kernel read through the broker, or the job run)
and the classification (the highest of the inputs; it can be raised, never lowered).
"""

from __future__ import annotations

import builtins
import shutil
import tempfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

from ..errors import (
    InvalidModelInput,
    ModelAccessDenied,
    ModelConflict,
    ModelError,
    ModelFormatError,
    ModelIntegrityError,
    ModelNotFound,
    ModelServiceError,
    ModelTooLarge,
)
from . import model_formats as formats
from . import models_meta as meta
from .broker import kernel_id
from .model_formats import ModelFormatWarning
from .models_client import RegistryClient, damaged, tampered

__all__ = [
    "InvalidModelInput", "ModelAccessDenied", "ModelConflict", "ModelError",
    "ModelFormatError", "ModelFormatWarning", "ModelIntegrityError", "ModelNotFound",
    "ModelServiceError", "ModelTooLarge", "ModelVersion", "approve", "get", "list", "load",
    "register", "remove_alias", "set_alias",
]

PROGRESS_MIN = 64 * 1024 * 1024  # show upload progress for files larger than this
PAGE = 500


@dataclass(frozen=True)
class ModelVersion:
    """One version of a model as the registry records it."""

    name: str
    version: int
    status: str
    classification: str | None
    lineage: dict[str, Any]
    url: str
    files: list[dict[str, Any]] = field(default_factory=builtins.list)
    aliases: list[str] = field(default_factory=builtins.list)
    registrant: str | None = None
    created: str | None = None
    flavor: str | None = None
    description: str | None = None
    metrics: dict[str, float] = field(default_factory=dict)
    params: dict[str, Any] = field(default_factory=dict, repr=False)
    signature: dict[str, Any] | None = field(default=None, repr=False)
    environment: dict[str, Any] | None = field(default=None, repr=False)
    notebook: dict[str, Any] | None = field(default=None, repr=False)
    git_commit: str | None = field(default=None, repr=False)
    raw: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)

    @classmethod
    def from_json(cls, data: Mapping[str, Any], page: str = "") -> ModelVersion:
        """From the registry's version JSON (unknown keys are kept in ``raw``)."""
        def get(key: str, default: Any = None) -> Any:
            value = data.get(key)
            return default if value is None else value

        return cls(
            name=str(get("name", "")), version=int(get("version", 0)),
            status=str(get("status", "")), classification=data.get("classification"),
            lineage=dict(get("lineage", {})), url=str(get("url", page)),
            files=builtins.list(get("files", [])), aliases=builtins.list(get("aliases", [])),
            registrant=data.get("registrant"), created=data.get("created"),
            flavor=data.get("flavor"), description=data.get("description"),
            metrics=dict(get("metrics", {})), params=dict(get("params", {})),
            signature=data.get("signature"), environment=data.get("environment"),
            notebook=data.get("notebook"), git_commit=data.get("git_commit"), raw=dict(data))

    @property
    def datasets(self) -> builtins.list[str]:
        """The names of the datasets in this version's lineage."""
        return [str(d.get("name")) for d in self.lineage.get("datasets") or []
                if isinstance(d, Mapping)]

    @property
    def run(self) -> Any:
        """The job run this version was registered from, or None."""
        return self.lineage.get("run")

    def __str__(self) -> str:
        inputs = ", ".join(self.datasets) or "no datasets"
        return (f"{self.name} version {self.version} ({self.status}, {self.classification}); "
                f"lineage: {inputs}" + (f", run {self.run}" if self.run else "")
                + f"; {self.url}")


def _client() -> RegistryClient:
    return RegistryClient()


# -- register -------------------------------------------------------------------------


def _url_name(name: object, field_name: str = "name") -> str:
    """A name that can be put in a URL. The registry judges everything else (advisory
    checks live in ``models_meta.name_problem``)."""
    if not isinstance(name, str) or not name:
        raise InvalidModelInput(meta.name_problem(name, field_name) or
                                f"{field_name}: {meta.shown(name)} is not a valid name",
                                status=400, field=field_name)
    return name


def _body(saved: formats.Saved, sizes: dict[str, int], model: object, *,
          description: str | None, metrics: dict[str, float], params: dict[str, Any],
          classification: str | None, input_example: Any) -> dict[str, Any]:
    notebook = meta.notebook_path()
    body: dict[str, Any] = {
        "flavor": saved.flavor, "metrics": metrics, "params": params,
        "signature": meta.signature(model, input_example),
        "environment": meta.environment(formats.libraries(saved.flavor)),
        "notebook": {"path": notebook, "kernel_session": kernel_id()} if notebook or
        kernel_id() else None,
        "git_commit": meta.git_commit(notebook),
        "files": [{"path": p, "size": sizes[p]} for p in saved.files]}
    if description is not None:
        body["description"] = description
    if classification is not None:
        body["classification"] = classification
    return body


def _progress(total: int, label: str, show: bool | None) -> tuple[Any, Callable[[int], None]]:
    if not (show or (show is None and total > PROGRESS_MIN)):
        return None, lambda _n: None
    from tqdm.auto import tqdm

    bar = tqdm(total=total, unit="B", unit_scale=True, unit_divisor=1024, desc=label,
               leave=False)
    return bar, bar.update


def _upload(client: RegistryClient, name: str, version: int, saved: formats.Saved,
            sizes: dict[str, int], progress: bool | None) -> dict[str, str]:
    """Stream every file up; ``{path: sha256}`` as this kernel computed it."""
    hashes: dict[str, str] = {}
    bar, tick = _progress(sum(sizes.values()), f"{name} v{version}", progress)
    try:
        for path in saved.files:
            answer, ours = client.upload(("models", name, "versions", version, "files"),
                                         path, saved.folder / path, tick)
            theirs = str(answer.get("sha256") or ours)
            if theirs != ours:
                raise damaged(path, ours, theirs)
            hashes[path] = ours
    finally:
        if bar is not None:
            bar.close()
    return hashes


def register(model: object, name: str, metrics: Mapping[str, Any] | None = None,
             description: str | None = None, params: Mapping[str, Any] | None = None,
             classification: str | None = None, *, input_example: Any = None,
             progress: bool | None = None) -> ModelVersion:
    """Register ``model`` as the next version of model ``name``; the new version.

    ``metrics``: ``{name: number}``; ``params``: JSON-able settings (default: a
    scikit-learn estimator's ``get_params()``); ``classification``: raise the version's
    class above what its inputs give (it can never be lowered); ``input_example``: a few
    rows of a pandas DataFrame, recorded in the signature; ``progress``: an upload
    progress bar (default: for files over 64 MiB).
    Raises ``ModelFormatError`` (nothing registered) for an object that cannot be stored,
    ``InvalidModelInput`` for a value the registry refuses.
    """
    name = _url_name(name)
    checked = meta.check_metrics(metrics)
    description = meta.check_description(description)
    params_json = meta.check_params(params) if params is not None else meta.model_params(model)
    client = _client()  # no credential: say so before serialising a large model
    folder = Path(tempfile.mkdtemp(prefix="assay-model-"))
    try:
        saved = formats.save(model, folder)
        sizes = {p: (folder / p).stat().st_size for p in saved.files}
        body = _body(saved, sizes, model, description=description, metrics=checked,
                     params=params_json, classification=classification,
                     input_example=input_example)
        return publish(name, saved, body, progress=progress, client=client)
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def publish(name: str, saved: formats.Saved, body: dict[str, Any], *,
            progress: bool | None = None, client: RegistryClient | None = None
            ) -> ModelVersion:
    """The registry half of :func:`register` for files already written: ask for a
    version, stream each file up, commit the hashes."""
    client = client or _client()
    created = client.request("POST", "models", name, "versions", body=body,
                             what=f"registering {name!r}")
    version = int(created["version"])
    sizes = {f["path"]: int(f["size"]) for f in body["files"]}
    hashes = _upload(client, name, version, saved, sizes, progress)
    try:
        answer = client.request("POST", "models", name, "versions", version, "commit",
                                body={"files": hashes}, what=f"committing {name!r}")
    except ModelConflict as exc:  # the registry's hashes differ from ours
        raise ModelIntegrityError(str(exc)) from None
    return ModelVersion.from_json({**created, **answer}, client.page_url(name, version))


# -- read -----------------------------------------------------------------------------


def get(name: str, version_or_alias: int | str = "latest") -> ModelVersion:
    """One version (a number, an alias such as ``"production"``, or ``"latest"``)."""
    name = _url_name(name)
    client = _client()
    try:
        data = client.request("GET", "models", name, "versions", version_or_alias,
                              what=f"{name!r} version {version_or_alias!r}")
    except ModelNotFound:
        if version_or_alias != "latest":
            raise
        data = _latest(client, name)
    return ModelVersion.from_json(data, client.page_url(name, data.get("version")))


def _latest(client: RegistryClient, name: str) -> dict[str, Any]:
    model = client.request("GET", "models", name, what=f"model {name!r}")
    ready = [v for v in model.get("versions") or [] if v.get("status") == "ready"]
    if not ready:
        raise ModelNotFound(f"Model {name!r} has no committed version yet.", status=404)
    return max(ready, key=lambda v: int(v.get("version", 0)))


def _local_path(folder: Path, path: str) -> Path:
    parts = PurePosixPath(path).parts
    if not parts or PurePosixPath(path).is_absolute() or any(p in ("", ".", "..")
                                                             for p in parts):
        raise ModelFormatError(f"The registry listed an artifact path {path!r} that is not "
                               "a plain relative path; nothing was loaded.")
    return folder.joinpath(*parts)


def load(name: str, version_or_alias: int | str = "latest", *,
         trust: builtins.list[str] | None = None, into: Any = None) -> Any:
    """The model of a version, after checking every file's sha256 against the registry.

    A file that does not match raises ``ModelIntegrityError`` and nothing is
    deserialised. Matching hashes vouch that the bytes are the ones the registrant
    stored, not that they are harmless: skops types beyond scikit-learn/NumPy/SciPy must
    be allowed with ``trust``, and a joblib/pickle version runs its code (with a warning).
    ``into``: a PyTorch module to load a state dict into (default: its class, built
    without arguments). Downloading needs what reading every input dataset needs.
    """
    version = get(name, version_or_alias)
    if version.status != "ready":
        raise ModelConflict(f"{name} version {version.version} is {version.status!r}, not "
                            "ready: its upload was never committed.", status=409)
    client = _client()
    folder = Path(tempfile.mkdtemp(prefix="assay-load-"))
    try:
        for item in version.files:
            path, expected = str(item.get("path", "")), str(item.get("sha256", ""))
            actual = client.download(("models", name, "versions", version.version, "files"),
                                     path, _local_path(folder, path))
            if actual != expected:
                raise tampered(path, expected, actual)
        return formats.load(folder, version.flavor or "", trust=trust, into=into)
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def list(q: str | None = None) -> builtins.list[dict[str, Any]]:  # noqa: A001
    """Every model you can see (``q``: search in names and descriptions): name,
    latest_version, versions, aliases, classification, updated."""
    client = _client()
    found: builtins.list[dict[str, Any]] = []
    while True:
        params: dict[str, Any] = {"limit": PAGE, "offset": len(found)}
        if q:
            params["q"] = q
        page = client.request("GET", "models", params=params, what="the model list")
        items = page.get("models") or []
        found += items
        if not items or len(found) >= int(page.get("total") or 0):
            return found


# -- aliases --------------------------------------------------------------------------


def set_alias(name: str, alias: str, version: int) -> dict[str, Any]:
    """Point ``alias`` at ``version``. Protected aliases (``production``) are not moved
    at once: the answer is a pending approval (``status: "pending"``) that another
    person grants with :func:`approve`."""
    name, alias = _url_name(name), _url_name(alias, "alias")
    return _client().request("PUT", "models", name, "aliases", alias,
                             body={"version": version}, what=f"alias {alias!r} of {name!r}")


def approve(name: str, alias: str, version: int) -> dict[str, Any]:
    """Approve moving a protected alias to ``version`` (not allowed to its registrant)."""
    name, alias = _url_name(name), _url_name(alias, "alias")
    return _client().request("POST", "models", name, "aliases", alias, "approve",
                             body={"version": version},
                             what=f"approving alias {alias!r} of {name!r}")


def remove_alias(name: str, alias: str) -> dict[str, Any]:
    """Remove ``alias`` (a protected one needs approval, as moving it does)."""
    name, alias = _url_name(name), _url_name(alias, "alias")
    return _client().request("DELETE", "models", name, "aliases", alias,
                             what=f"alias {alias!r} of {name!r}")
