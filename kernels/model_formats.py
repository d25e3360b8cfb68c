"""How a model becomes files and back: safe formats first, pickle only as a fallback.

* scikit-learn estimators and pipelines → ``model.skops`` (``skops.io.dump``): loading
  builds objects from a schema and never runs code from the file.
* PyTorch ``nn.Module`` → ``model.pt`` holding ``state_dict()`` only (loaded with
  ``weights_only=True``) and the class path; loading builds the class and loads the weights.
* anything else pickle can serialise → ``model.joblib`` with a visible
  :class:`ModelFormatWarning`: loading a pickle runs code.

Every model also gets ``assay-model.json`` (the manifest: flavor, type, libraries). The
registry records the sha256 of both; :func:`load` is only called after those hashes were
checked, so the bytes are the registrant's. That vouches for *who* stored them, not for
what they do: skops types outside scikit-learn, NumPy and SciPy must still be trusted
explicitly (``trust=[...]``), and pickles run whatever the registrant put in them.
"""

from __future__ import annotations

import importlib
import json
import sys
import warnings
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

from ..errors import ModelFormatError

SKOPS, TORCH, JOBLIB, PICKLE = "skops", "torch-state-dict", "joblib", "pickle"
FLAVORS = (SKOPS, TORCH, JOBLIB, PICKLE)
MANIFEST = "assay-model.json"
FILES = {SKOPS: "model.skops", TORCH: "model.pt", JOBLIB: "model.joblib", PICKLE: "model.pkl"}
SAFE_ROOTS = ("sklearn.", "numpy.", "scipy.")  # skops types trusted without asking
SUPPORTED = ("scikit-learn estimators and pipelines (stored with skops), PyTorch nn.Module "
             "(its state dict), or any other object pickle can serialise (stored with "
             "joblib, with a warning)")
_UNLOADABLE = ("<lambda>", "<locals>")


class ModelFormatWarning(UserWarning):
    """A model stored or loaded in a format that runs code (pickle/joblib)."""


@dataclass(frozen=True)
class Saved:
    """A model written to ``folder``: its flavor, its files (names relative to the folder)."""

    flavor: str
    folder: Path
    files: tuple[str, ...]
    model_type: str
    warning: str | None = None


def type_path(obj: object) -> str:
    """``module.QualifiedName`` of the object's type."""
    kind = type(obj)
    return f"{kind.__module__}.{kind.__qualname__}"


def is_sklearn(model: object) -> bool:
    if "sklearn" not in sys.modules:  # not imported: cannot be an estimator
        return False
    from sklearn.base import BaseEstimator

    return isinstance(model, BaseEstimator)


def is_torch_module(model: object) -> bool:
    torch = sys.modules.get("torch")
    return torch is not None and isinstance(model, torch.nn.Module)


def flavor_of(model: object) -> str:
    """The format ``model`` will be stored in."""
    if is_sklearn(model):
        return SKOPS
    if is_torch_module(model):
        return TORCH
    return JOBLIB if _has("joblib") else PICKLE


def _has(module: str) -> bool:
    try:
        importlib.import_module(module)
    except ImportError:
        return False
    return True


def _version(dist: str) -> str | None:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return None


def unserialisable(model: object, reason: str) -> ModelFormatError:
    return ModelFormatError(
        f"Cannot store a {type_path(model)} as a model: {reason}. Supported: {SUPPORTED}. "
        "Nothing was registered.")


def pickle_warning(model: object) -> str:
    return (f"no safe format for {type_path(model)}; stored with joblib (pickle): loading "
            "it runs code — only load models you trust")


# -- save ---------------------------------------------------------------------------------


def save(model: object, folder: Path) -> Saved:
    """Write ``model`` and its manifest into ``folder``; ``ModelFormatError`` when it
    cannot be stored (nothing usable is left behind: the caller removes the folder)."""
    if model is None:
        raise unserialisable(model, "there is no model (None)")
    folder = Path(folder)
    flavor, warning = flavor_of(model), None
    manifest: dict[str, Any] = {"format": 1, "type": type_path(model)}
    if flavor == SKOPS:
        try:
            manifest["untrusted_types"] = _save_skops(model, folder / FILES[SKOPS])
        except ModelFormatError:
            raise
        except Exception as exc:  # noqa: BLE001 - skops cannot: fall back to joblib
            (folder / FILES[SKOPS]).unlink(missing_ok=True)
            flavor = JOBLIB if _has("joblib") else PICKLE
            manifest["skops_error"] = f"{type(exc).__name__}: {exc}"[:500]
    if flavor == TORCH:
        manifest["class"] = type_path(model)
        _save_torch(model, folder / FILES[TORCH])
    if flavor in (JOBLIB, PICKLE):
        _save_pickle(model, folder / FILES[flavor], flavor)
        warning = pickle_warning(model)
        warnings.warn(warning, ModelFormatWarning, stacklevel=3)
    manifest.update(flavor=flavor, file=FILES[flavor], libraries=libraries(flavor))
    (folder / MANIFEST).write_text(json.dumps(manifest, indent=1, sort_keys=True),
                                   encoding="utf-8")
    return Saved(flavor, folder, (FILES[flavor], MANIFEST), manifest["type"], warning)


def libraries(flavor: str) -> dict[str, str]:
    """Versions of the libraries a flavor needs to load (those installed)."""
    names = {SKOPS: ("scikit-learn", "skops", "numpy", "scipy"), TORCH: ("torch",),
             JOBLIB: ("joblib", "numpy"), PICKLE: ()}[flavor]
    return {name: v for name in names if (v := _version(name))}


def _save_skops(model: object, path: Path) -> list[str]:
    import skops.io

    skops.io.dump(model, path)
    untrusted = sorted(skops.io.get_untrusted_types(file=path))
    broken = [t for t in untrusted if any(mark in t for mark in _UNLOADABLE)]
    if broken:
        path.unlink(missing_ok=True)
        raise unserialisable(model, f"it holds {', '.join(broken)}, which cannot be "
                             "loaded again (define the function at module level in a .py "
                             "file, or use a named function)")
    return untrusted


def _save_torch(model: Any, path: Path) -> None:
    import torch

    if "<locals>" in type_path(model):
        raise unserialisable(model, "its class is defined inside a function, so it cannot "
                             "be built again at load time")
    torch.save(model.state_dict(), path)


def _save_pickle(model: object, path: Path, flavor: str) -> None:
    try:
        if flavor == JOBLIB:
            import joblib

            joblib.dump(model, path)
        else:
            import pickle

            with path.open("wb") as out:
                pickle.dump(model, out, protocol=pickle.HIGHEST_PROTOCOL)
    except Exception as exc:  # noqa: BLE001 - PicklingError, TypeError, RecursionError...
        path.unlink(missing_ok=True)
        raise unserialisable(model, f"{type(exc).__name__}: {exc}") from None


# -- load ---------------------------------------------------------------------------------


def read_manifest(folder: Path, flavor: str) -> dict[str, Any]:
    """The manifest in ``folder`` (its hash was checked), or a minimal one for ``flavor``."""
    path = Path(folder) / MANIFEST
    if path.is_file():
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except ValueError:
            raise ModelFormatError(f"{MANIFEST} of this model is not JSON; it cannot be "
                                   "loaded.") from None
        if isinstance(data, dict):
            return data
    if flavor not in FILES:
        raise ModelFormatError(f"Unknown model flavor {flavor!r}; this version of Assay can "
                               f"load {', '.join(FLAVORS)}. Update Assay.")
    return {"flavor": flavor, "file": FILES[flavor]}


def load(folder: Path, flavor: str, *, trust: list[str] | None = None,
         into: Any = None) -> Any:
    """Deserialise a model whose files in ``folder`` were verified against the registry.

    ``trust``: extra skops types to allow; ``into``: a PyTorch module instance to load the
    state dict into (default: the recorded class built without arguments)."""
    manifest = read_manifest(folder, flavor)
    flavor = str(manifest.get("flavor") or flavor)
    name = str(manifest.get("file") or FILES.get(flavor, ""))
    path = Path(folder) / name
    if "/" in name or not path.is_file():
        raise ModelFormatError(f"The model's artifact {name!r} is missing from its version; "
                               "it cannot be loaded.")
    if flavor == SKOPS:
        return _load_skops(path, trust)
    if flavor == TORCH:
        return _load_torch(path, str(manifest.get("class") or ""), into)
    if flavor in (JOBLIB, PICKLE):
        warnings.warn(f"loading {manifest.get('type', 'a model')} from {flavor} (pickle): "
                      "this runs code from the file — only load models you trust",
                      ModelFormatWarning, stacklevel=3)
        if flavor == JOBLIB:
            import joblib

            return joblib.load(path)
        import pickle

        with path.open("rb") as handle:
            return pickle.load(handle)  # noqa: S301 - the warning above says so
    raise ModelFormatError(f"Unknown model flavor {flavor!r}; this version of Assay can load "
                           f"{', '.join(FLAVORS)}. Update Assay.")


def _load_skops(path: Path, trust: list[str] | None) -> Any:
    import skops.io

    found = skops.io.get_untrusted_types(file=path)
    extra = set(trust or ())
    refused = sorted(t for t in found if not t.startswith(SAFE_ROOTS) and t not in extra)
    if refused:
        raise ModelFormatError(
            "This model holds types outside scikit-learn, NumPy and SciPy: "
            f"{', '.join(refused)}. Loading builds them, which may run their code. If you "
            f"trust the registrant, pass trust={refused!r} to assay.models.load.")
    return skops.io.load(path, trusted=sorted(found))


def _load_torch(path: Path, class_path: str, into: Any) -> Any:
    import torch

    model = into
    if model is None:
        module_name, _, qualname = class_path.rpartition(".")
        try:
            cls = getattr(importlib.import_module(module_name), qualname)
            model = cls()
        except Exception as exc:  # noqa: BLE001 - explained below
            raise ModelFormatError(
                f"Cannot build {class_path or 'the model class'} without arguments "
                f"({type(exc).__name__}: {exc}); build it yourself and pass it: "
                "assay.models.load(name, version, into=MyNet(...)).") from None
    state = torch.load(path, map_location="cpu", weights_only=True)
    model.load_state_dict(state)
    return model
