"""``import assay`` is light: the kernel-facing modules load on first attribute use."""

from __future__ import annotations

import subprocess
import sys


def run(code: str) -> str:
    return subprocess.run([sys.executable, "-c", code], check=True, capture_output=True,
                          text=True, timeout=60).stdout.strip()


def test_import_assay_loads_nothing_heavy() -> None:
    loaded = run("import sys, assay; print(sorted(m for m in sys.modules "
                 "if m.split('.')[0] in ('assay', 'distributed', 'sklearn', 'httpx')))")
    assert loaded == "['assay']"


def test_kernel_modules_are_attributes_of_the_package() -> None:
    shown = run("import assay; print(assay.data.__name__, assay.models.__name__, "
                "assay.dask.__name__, callable(assay.models.register), "
                "callable(assay.dask.cluster))")
    assert shown == "assay.data assay.models assay.dask True True"


def test_unknown_attribute_is_an_attribute_error() -> None:
    shown = run("import assay\ntry:\n    assay.nope\nexcept AttributeError as e:\n    print(e)")
    assert shown == "module 'assay' has no attribute 'nope'"
