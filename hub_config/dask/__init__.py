"""``assay.dask``: a notebook's Dask cluster, sized by its server's profile.

>>> import assay.dask
>>> from dask.distributed import Client
>>> client = Client(assay.dask.cluster())

Local mode: a ``LocalCluster`` bounded by the profile's CPU and memory limits; Kubernetes
mode: a ``DaskCluster`` the Assay service creates for the notebook (``service.py``; the
kernel holds no Kubernetes credentials), whose workers run the notebook's image. Workers
read data through the Assay broker with the notebook's session credential. See
``docs/dask.md``. Importing this package does not import Dask.
"""

from .cluster import close, cluster, current

__all__ = ["close", "cluster", "current"]
