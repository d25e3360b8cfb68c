"""Papermill jobs (see docs/jobs.md).

In a notebook: ``import assay.jobs`` then ``assay.jobs.record("auc", 0.93)``; the
kernel-side API lives in ``assay.kernels.jobs`` and is re-exported here. Importing this
package stays light: the service-side modules (``assay.jobs.scheduler``,
``assay.jobs.executors``, ``assay.jobs.runner``…) are imported only when named.
"""

from ..kernels.jobs import current_run, local_metrics, record

__all__ = ["current_run", "local_metrics", "record"]
