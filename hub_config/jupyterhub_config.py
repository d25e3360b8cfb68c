# JupyterHub configuration of Assay. Everything is read from assay.yaml
# ($ASSAY_CONFIG overrides the path) by the `assay` package; keep this file thin.
from assay.hub import configure_or_exit

configure_or_exit(c)  # noqa: F821 - `c` is provided by JupyterHub's config loader
