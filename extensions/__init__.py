"""Single-user server extension of Assay (``assay.extensions``).

- ``GET {base_url}assay/datasets``: the data catalog, asked by the server with its
  session credential (the browser never sees it);
- taint-on-save: a notebook whose kernel read data gets ``metadata.assay`` with the
  highest class read and the datasets (never lowered);
- export guard: notebooks marked above ``internal`` are not downloaded or converted.

Enabled by ``jupyter-config/jupyter_server_config.d/assay.json`` (installed with the
package) and, for editable installs, by the local spawner's command line.
"""

from __future__ import annotations

from typing import Any


def _jupyter_server_extension_points() -> list[dict[str, str]]:
    return [{"module": "assay.extensions"}]


def _load_jupyter_server_extension(serverapp: Any) -> None:
    from .loader import load

    load(serverapp)
