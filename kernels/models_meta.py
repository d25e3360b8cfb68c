"""What a model version records about itself, computed in the kernel: signature,
environment, notebook and git commit, parameters, metrics. Pure and fast; no network.

The registry checks every field again (names, sizes, metrics): these checks only give an
early, readable error before a large model is serialised.
"""

from __future__ import annotations

import hashlib
import json
import math
import numbers
import os
import platform
import re
import subprocess
import sys
import unicodedata
from collections.abc import Mapping
from importlib import metadata
from pathlib import Path
from typing import Any

from ..errors import InvalidModelInput

NAME = re.compile(r"^[a-z0-9](?:[a-z0-9._-]{0,62}[a-z0-9])?$")  # as config.schema NAME
NAME_RULE = ("1-64 characters of lowercase ASCII letters, digits, '.', '_' and '-', "
             "starting and ending with a letter or digit")
MAX_DESCRIPTION = 2000
MAX_METRICS = 100
MAX_PARAMS_BYTES = 64 * 1024
MAX_CLASSES = 1000  # classes_ listed in a signature
GIT_TIMEOUT = 3.0
SESSION_NAME_ENV = "JPY_SESSION_NAME"


def shown(value: object, limit: int = 60) -> str:
    """``repr`` of a client value, truncated."""
    text = repr(value)
    return text if len(text) <= limit else text[:limit] + "…"


def name_problem(name: object, field: str = "name") -> str | None:
    """Why ``name`` is not a valid model (or alias) name, or None. Advisory: the
    registry decides."""
    if not isinstance(name, str):
        return f"{field}: {shown(name)} is not text; use {NAME_RULE}"
    if NAME.match(name) and name.isascii():
        return None
    hint = ""
    if not name.isascii():
        odd = next(c for c in name if not c.isascii())
        hint = (f" ({shown(odd)} is {unicodedata.name(odd, 'a non-ASCII character')}, not "
                "an ASCII character)")
    elif name.lower() != name:
        hint = " (lowercase only)"
    return f"{field}: {shown(name)} is not a valid name: use {NAME_RULE}{hint}"


def check_name(name: object, field: str = "name") -> str:
    """``name`` if it is valid, else ``InvalidModelInput`` naming field, value and rule."""
    problem = name_problem(name, field)
    if problem:
        raise InvalidModelInput(problem, status=400, field=field)
    return str(name)


def check_description(description: object) -> str | None:
    if description is None:
        return None
    if not isinstance(description, str) or len(description) > MAX_DESCRIPTION:
        size = f"{len(description)} characters" if isinstance(description, str) else \
            type(description).__name__
        raise InvalidModelInput(f"description: {size} given; use text of at most "
                                f"{MAX_DESCRIPTION} characters", status=400,
                                field="description")
    return description


def check_metrics(metrics: Mapping[str, Any] | None) -> dict[str, float]:
    """Metrics as ``{name: float}``; ``InvalidModelInput`` for a non-number or non-finite
    value, or more than 100 entries."""
    if metrics is None:
        return {}
    if not isinstance(metrics, Mapping):
        raise InvalidModelInput(f"metrics: {shown(metrics)} is not a dict; pass e.g. "
                                "{'auc': 0.91}", status=400, field="metrics")
    if len(metrics) > MAX_METRICS:
        raise InvalidModelInput(f"metrics: {len(metrics)} entries; at most {MAX_METRICS}",
                                status=400, field="metrics")
    out: dict[str, float] = {}
    for key, value in metrics.items():
        if not isinstance(key, str) or not key.strip():
            raise InvalidModelInput(f"metrics: name {shown(key)} must be non-empty text",
                                    status=400, field="metrics")
        if isinstance(value, bool) or not isinstance(value, numbers.Real) or \
                not math.isfinite(float(value)):
            raise InvalidModelInput(f"metrics: {key!r} is {shown(value)}; use a finite "
                                    "number", status=400, field="metrics")
        out[key] = float(value)
    return out


def parse_metrics(text: str) -> dict[str, float]:
    """``"auc=0.91, f1=0.8"`` → ``{"auc": 0.91, "f1": 0.8}`` (also ``;`` or newlines)."""
    out: dict[str, Any] = {}
    for item in re.split(r"[,;\n]", text):
        if not item.strip():
            continue
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise InvalidModelInput(f"metrics: {shown(item.strip())} is not name=value, "
                                    "e.g. auc=0.91", status=400, field="metrics")
        try:
            out[key.strip()] = float(value.strip())
        except ValueError:
            raise InvalidModelInput(f"metrics: {key.strip()!r} = {shown(value.strip())} is "
                                    "not a number", status=400, field="metrics") from None
    return check_metrics(out)


# -- JSON-safe values -----------------------------------------------------------------


def jsonable(value: Any, depth: int = 0) -> Any:
    """A JSON-safe rendering: NumPy scalars become numbers, unknown objects their repr."""
    if value is None or isinstance(value, bool | str):
        return value
    if isinstance(value, numbers.Integral):
        return int(value)
    if isinstance(value, numbers.Real):
        number = float(value)
        return number if math.isfinite(number) else repr(number)
    if depth < 8 and isinstance(value, Mapping):
        return {str(k): jsonable(v, depth + 1) for k, v in value.items()}
    if depth < 8 and isinstance(value, list | tuple):
        return [jsonable(v, depth + 1) for v in value]
    if hasattr(value, "tolist") and getattr(value, "ndim", 1) == 0:
        return jsonable(value.tolist(), depth + 1)
    text = repr(value)
    return text if len(text) <= 200 else text[:200] + "…"


def model_params(model: object) -> dict[str, Any]:
    """An estimator's ``get_params(deep=False)``, JSON-safe; ``{}`` for other objects."""
    get = getattr(model, "get_params", None)
    if not callable(get):
        return {}
    try:
        params = get(deep=False)
    except Exception:  # noqa: BLE001 - parameters are a courtesy
        return {}
    return jsonable(params) if isinstance(params, Mapping) else {}


def check_params(params: Mapping[str, Any] | None) -> dict[str, Any]:
    if params is None:
        return {}
    if not isinstance(params, Mapping):
        raise InvalidModelInput(f"params: {shown(params)} is not a dict", status=400,
                                field="params")
    safe = jsonable(params)
    size = len(json.dumps(safe).encode())
    if size > MAX_PARAMS_BYTES:
        raise InvalidModelInput(f"params: {size} bytes as JSON; at most {MAX_PARAMS_BYTES}",
                                status=400, field="params")
    return safe


# -- signature --------------------------------------------------------------------------


def _output_kind(model: object) -> str | None:
    if "sklearn" not in sys.modules:
        return None
    import sklearn.base as base

    if not isinstance(model, base.BaseEstimator):
        return None
    for kind in ("classifier", "regressor", "clusterer", "outlier_detector"):
        test = getattr(base, f"is_{kind}", None)
        if test is not None and test(model):
            return kind
    if hasattr(model, "transform"):
        return "transformer"
    return None


def _frame_columns(example: Any) -> list[dict[str, str]] | None:
    columns, dtypes = getattr(example, "columns", None), getattr(example, "dtypes", None)
    if columns is None or dtypes is None:
        return None
    return [{"name": str(c), "dtype": str(t)} for c, t in zip(columns, dtypes, strict=False)]


def signature(model: object, input_example: Any = None) -> dict[str, Any] | None:
    """Inputs and outputs of a scikit-learn model (``n_features_in_``,
    ``feature_names_in_``, ``classes_``, the kind of output), plus the columns and dtypes
    of a pandas ``input_example`` and the output of ``predict`` on its first rows."""
    inputs: dict[str, Any] = {}
    outputs: dict[str, Any] = {}
    if hasattr(model, "n_features_in_"):
        inputs["n_features"] = jsonable(model.n_features_in_)
    names = getattr(model, "feature_names_in_", None)
    if names is not None:
        inputs["features"] = [str(n) for n in names]
    kind = _output_kind(model)
    if kind:
        outputs["kind"] = kind
    classes = getattr(model, "classes_", None)
    if classes is not None and hasattr(classes, "__len__"):
        listed = jsonable(list(classes)[:MAX_CLASSES])
        outputs["classes"] = listed
        outputs["n_classes"] = len(classes)
    if input_example is not None:
        columns = _frame_columns(input_example)
        if columns is not None:
            inputs["columns"] = columns
        outputs.update(_example_output(model, input_example))
    if not inputs and not outputs:
        return None
    return {"inputs": inputs, "outputs": outputs}


def _example_output(model: Any, example: Any) -> dict[str, Any]:
    predict = getattr(model, "predict", None)
    if not callable(predict):
        return {}
    head = example.head(5) if hasattr(example, "head") else example[:5]
    try:
        result = predict(head)
    except Exception:  # noqa: BLE001 - the signature is a courtesy
        return {}
    shape = getattr(result, "shape", None)
    out: dict[str, Any] = {}
    if getattr(result, "dtype", None) is not None:
        out["dtype"] = str(result.dtype)
    if shape is not None:
        out["shape"] = [None, *[int(n) for n in shape[1:]]]
    return out


# -- environment, notebook, git -----------------------------------------------------------


def _normalise(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _from_folder(folder: Path) -> str | None:
    """``name==version`` of one ``*.dist-info`` / ``*.egg-info`` folder: from its name
    (``scikit_learn-1.9.1.dist-info``), else from its metadata."""
    stem, _, suffix = folder.name.rpartition(".")
    name, sep, version = stem.partition("-")
    if sep and version and suffix == "dist-info":
        return f"{_normalise(name)}=={version}"
    if sep and version and suffix == "egg-info":
        return f"{_normalise(name)}=={version.split('-')[0]}"
    dist = metadata.PathDistribution(folder)
    found = dist.metadata.get("Name") if dist.metadata else None
    return f"{_normalise(found)}=={dist.version}" if found and dist.version else None


def packages() -> list[str]:
    """Sorted, de-duplicated ``name==version`` of every distribution installed on
    ``sys.path`` (what ``importlib.metadata.distributions()`` finds), read from the
    metadata folders' names: a few milliseconds instead of parsing every METADATA file."""
    found: set[str] = set()
    for entry in sys.path:
        try:
            names = os.listdir(entry or ".")
        except OSError:  # a zip file or a missing folder
            continue
        for name in names:
            if name.endswith((".dist-info", ".egg-info")):
                spec = _from_folder(Path(entry or ".") / name)
                if spec:
                    found.add(spec)
    return sorted(found)


def environment(flavor_libraries: Mapping[str, str] | None = None) -> dict[str, Any]:
    """Python version, sha256 of the package list, and the libraries the model needs."""
    listed = packages()
    digest = hashlib.sha256("\n".join(listed).encode()).hexdigest()
    wanted = {f"{name}=={version}" for name, version in (flavor_libraries or {}).items()}
    return {"python": platform.python_version(), "packages_digest": digest,
            "packages": sorted(wanted)}


def notebook_path(environ: Mapping[str, str] | None = None) -> str | None:
    """The notebook this kernel runs for (jupyter_server sets ``$JPY_SESSION_NAME``)."""
    env = os.environ if environ is None else environ
    return env.get(SESSION_NAME_ENV) or None


def git_commit(path: str | os.PathLike[str] | None) -> str | None:
    """``HEAD`` of the git repository holding ``path`` (a file or folder), else None."""
    if not path:
        return None
    folder = Path(path)
    folder = folder if folder.is_dir() else folder.parent
    if not folder.is_dir():
        return None
    try:
        out = subprocess.run(["git", "-C", str(folder), "rev-parse", "HEAD"],
                             capture_output=True, text=True, timeout=GIT_TIMEOUT, check=False,
                             env={**os.environ, "GIT_TERMINAL_PROMPT": "0"})
    except (OSError, subprocess.SubprocessError):
        return None
    commit = out.stdout.strip()
    return commit if out.returncode == 0 and re.fullmatch(r"[0-9a-f]{40,64}", commit) else None
