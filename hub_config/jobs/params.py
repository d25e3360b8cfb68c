"""A notebook's parameters (papermill's cell tagged ``parameters``) and submitted values.

The declared parameters are the cell's top-level assignments; each one's type comes
from its annotation (``n: int = 5``) or, failing that, from its literal value
(``alpha = 0.05`` is a float). A submit is checked against them: an unknown name is
refused with the list of valid names, a wrong type with the type expected. An int is
accepted for a float; ``None`` only where the cell says ``None`` or ``Optional``.

Secrets go by reference, ``"secret://warehouse"``, and only into text parameters;
the value is resolved when the run starts and never stored with the job.
"""

from __future__ import annotations

import ast
import json
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ..errors import InvalidParameters

SECRET_SCHEME = "secret://"
SECRET_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
SECRET_HELP = "1-64 ASCII letters, digits, '_', '.' and '-', starting with a letter or digit"
MAX_PARAMETERS_BYTES = 64 * 1024
TYPES = ("bool", "int", "float", "str", "list", "dict", "any")
_PY = {"bool": bool, "int": int, "float": float, "str": str, "list": list, "dict": dict}
_ANNOTATIONS = {**{name: name for name in _PY}, "List": "list", "Dict": "dict",
                "Any": "any", "object": "any", "tuple": "list", "Tuple": "list"}


@dataclass(frozen=True)
class Parameter:
    """One declared parameter: its ``type`` (one of ``TYPES``), default and nullability."""

    name: str
    type: str
    default: Any
    nullable: bool
    source: str  # the assignment as written, for messages

    def describe(self) -> str:
        kind = "any value" if self.type == "any" else self.type
        return f"{kind} or None" if self.nullable and self.type != "any" else kind


def read_notebook(notebook: bytes) -> dict[str, Any]:
    """The notebook's JSON; ``InvalidParameters`` if it is not an ``.ipynb``."""
    try:
        data = json.loads(notebook)
    except (ValueError, UnicodeDecodeError):
        raise InvalidParameters(["notebook: not a Jupyter notebook (.ipynb JSON)"]) from None
    if not isinstance(data, dict) or not isinstance(data.get("cells"), list):
        raise InvalidParameters(["notebook: not a Jupyter notebook (no list of cells)"])
    return data


def parameters_cell(notebook: Mapping[str, Any]) -> str | None:
    """The source of the first cell tagged ``parameters`` (papermill's rule), or None."""
    for cell in notebook.get("cells", []):
        if not isinstance(cell, dict) or cell.get("cell_type") != "code":
            continue
        tags = (cell.get("metadata") or {}).get("tags") or []
        if isinstance(tags, list) and "parameters" in tags:
            source = cell.get("source", "")
            return "".join(source) if isinstance(source, list) else str(source)
    return None


def _annotation_type(node: ast.expr | None) -> tuple[str | None, bool]:
    """``int`` → ("int", False); ``str | None`` / ``Optional[str]`` → ("str", True)."""
    if node is None:
        return None, False
    if isinstance(node, ast.Constant) and node.value is None:
        return None, True
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.BitOr):
        left, right = _annotation_type(node.left), _annotation_type(node.right)
        kinds = {k for k in (left[0], right[0]) if k}
        kind = kinds.pop() if len(kinds) == 1 else "any"
        return kind, left[1] or right[1]
    if isinstance(node, ast.Subscript):
        base = _annotation_type(node.value)[0]
        if isinstance(node.value, ast.Name) and node.value.id == "Optional":
            return _annotation_type(node.slice)[0] or "any", True
        return base, False
    name = node.id if isinstance(node, ast.Name) else getattr(node, "attr", None)
    return _ANNOTATIONS.get(name or "", "any"), False


def _literal_type(value: Any) -> str:
    for name, kind in _PY.items():  # bool before int: True is an int in Python
        if type(value) is kind:
            return name
    return "list" if isinstance(value, tuple) else "any"


def _declared(stmt: ast.stmt, target: ast.expr, value: ast.expr | None,
              annotation: ast.expr | None, source: str) -> Parameter | None:
    if not isinstance(target, ast.Name):
        return None
    try:
        default = ast.literal_eval(value) if value is not None else None
        literal = value is not None
    except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
        default, literal = None, False
    kind, nullable = _annotation_type(annotation)
    if kind is None:
        kind = _literal_type(default) if literal and default is not None else "any"
    nullable = nullable or (literal and default is None)
    text = ast.get_source_segment(source, stmt) or target.id
    return Parameter(target.id, kind, default, nullable, text.strip())


def declared_parameters(source: str) -> dict[str, Parameter]:
    """The parameters a ``parameters`` cell declares, in order (last assignment wins)."""
    try:
        tree = ast.parse(source)
    except SyntaxError as exc:
        raise InvalidParameters([f"notebook: the parameters cell is not valid Python "
                                 f"(line {exc.lineno}: {exc.msg})"]) from None
    found: dict[str, Parameter] = {}
    for stmt in tree.body:
        pairs: list[tuple[ast.expr, ast.expr | None, ast.expr | None]] = []
        if isinstance(stmt, ast.Assign) and len(stmt.targets) == 1:
            pairs.append((stmt.targets[0], stmt.value, None))
        elif isinstance(stmt, ast.AnnAssign):
            pairs.append((stmt.target, stmt.value, stmt.annotation))
        for target, value, annotation in pairs:
            parameter = _declared(stmt, target, value, annotation, source)
            if parameter is not None:
                found[parameter.name] = parameter
    return found


def notebook_parameters(notebook: bytes) -> dict[str, Parameter] | None:
    """Declared parameters of a notebook's bytes; None when no cell is tagged."""
    source = parameters_cell(read_notebook(notebook))
    return None if source is None else declared_parameters(source)


def secret_name(value: Any) -> str | None:
    """``"secret://name"`` → ``"name"``; None for any other value."""
    if isinstance(value, str) and value.startswith(SECRET_SCHEME):
        return value[len(SECRET_SCHEME):]
    return None


def _shown(value: Any) -> str:
    text = json.dumps(value) if not isinstance(value, float) or math.isfinite(value) \
        else repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _json_type(value: Any) -> str:
    names = {bool: "bool", int: "int", float: "float", str: "str", list: "list",
             dict: "dict", type(None): "None"}
    return names.get(type(value), type(value).__name__)


def _finite(value: Any) -> bool:
    if isinstance(value, float):
        return math.isfinite(value)
    if isinstance(value, list | tuple):
        return all(_finite(v) for v in value)
    if isinstance(value, dict):
        return all(isinstance(k, str) and _finite(v) for k, v in value.items())
    return value is None or isinstance(value, bool | int | str)


def _check_secret(name: str, value: str, param: Parameter) -> str | None:
    secret = secret_name(value)
    if param.type not in ("str", "any"):
        return (f"{name}: a secret reference fits only a text parameter, but '{name}' "
                f"is {param.describe()} (declared as `{param.source}`)")
    if not SECRET_NAME.match(secret or ""):
        return f"{name}: secret reference {value!r} must be secret://NAME with NAME {SECRET_HELP}"
    return None


def _check_value(name: str, value: Any, param: Parameter) -> str | None:
    if not _finite(value):
        return f"{name}: must be JSON data (no NaN, infinity or non-text keys), got {_shown(value)}"
    if secret_name(value) is not None:
        return _check_secret(name, value, param)
    if value is None:
        if param.nullable or param.type == "any":
            return None
        return (f"{name}: must be {param.describe()} (declared as `{param.source}`), got "
                "None; declare it `Optional` or with a None default to allow None")
    if param.type == "any" or _json_type(value) == param.type:
        return None
    if param.type == "float" and _json_type(value) == "int":
        return None
    return (f"{name}: must be {param.describe()} (declared as `{param.source}`), got "
            f"{_shown(value)} ({_json_type(value)})")


def validate(submitted: Mapping[str, Any], declared: Mapping[str, Parameter] | None
             ) -> dict[str, Any]:
    """The submitted parameters, checked; ``InvalidParameters`` lists every problem.

    ``declared`` None means the notebook has no cell tagged ``parameters``.
    """
    if not isinstance(submitted, Mapping):
        raise InvalidParameters([f"parameters: must be a mapping of names to values, got "
                                 f"{_json_type(submitted)}"])
    if submitted and declared is None:
        raise InvalidParameters([
            "parameters: the notebook has no cell tagged 'parameters', so it takes none; "
            "tag the cell that assigns the defaults with 'parameters' (papermill's "
            "convention)"])
    declared = declared or {}
    valid = ", ".join(declared) or "(none)"
    problems: list[str] = []
    for name, value in submitted.items():
        if name not in declared:
            problems.append(f"{name}: unknown parameter; the notebook's parameters cell "
                            f"declares: {valid}")
            continue
        problem = _check_value(name, value, declared[name])
        if problem:
            problems.append(problem)
    if not problems and len(json.dumps(dict(submitted))) > MAX_PARAMETERS_BYTES:
        problems.append(f"parameters: at most {MAX_PARAMETERS_BYTES} bytes of JSON")
    if problems:
        raise InvalidParameters(problems)
    return {name: submitted[name] for name in submitted}


def validate_for_notebook(submitted: Mapping[str, Any], notebook: bytes) -> dict[str, Any]:
    """``validate`` against a notebook's bytes."""
    return validate(submitted, notebook_parameters(notebook))


def secret_names(parameters: Mapping[str, Any]) -> list[str]:
    """The secrets a run of these parameters needs, sorted."""
    return sorted({s for v in parameters.values() if (s := secret_name(v)) is not None})


def for_run(parameters: Mapping[str, Any]) -> dict[str, Any]:
    """Parameters as a run spec carries them: ``secret://x`` → ``{"__secret__": "x"}``."""
    return {name: ({"__secret__": secret} if (secret := secret_name(value)) is not None
                   else value) for name, value in parameters.items()}


def from_text(text: str, param: Parameter) -> Any:
    """A command-line value (``-p n=5``) as the declared type wants it (for the CLI):
    JSON where it parses and fits, else the text itself."""
    if param.type == "str" or text.startswith(SECRET_SCHEME):
        return text
    if param.type == "bool" and text.lower() in ("true", "false"):
        return text.lower() == "true"
    try:
        return json.loads(text)
    except ValueError:
        return text
