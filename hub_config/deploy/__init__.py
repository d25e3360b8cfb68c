"""Assay on Kubernetes with the zero-to-jupyterhub Helm chart (``assay deploy render``).

* ``values``: the chart's values (hub and single-user images, the profile list, the Assay
  service, where secrets come from) — pure builders, no cluster, no I/O;
* ``manifests``: what the chart does not make (namespace, the ``assay.yaml`` ConfigMap,
  storage for the Assay service, the hub's ServiceAccount and its Role for jobs and Dask);
* ``render``: loads ``assay.yaml``, builds both, and writes them;
* ``hubconfig``: what the hub pod runs from ``hub.extraConfig`` (Assay's spawner,
  authenticator and service wiring on top of the chart's own JupyterHub config);
* ``broker``: the Assay service's entry point inside the hub pod.

See docs/deploy.md for how to deploy on a real cluster.
"""
