# Assay single-user images: jupyter-server-proxy may reach loopback (local dashboards) and
# this user's own Dask scheduler Services, nothing else (assay.dask.proxy). Copied to
# ${CONDA_DIR}/etc/jupyter/ by images/singleuser*/Dockerfile; docker-stacks' own
# /etc/jupyter/jupyter_server_config.py is still loaded alongside it.
from assay.dask.proxy import allowed_host

c = get_config()  # noqa: F821 -- provided by Jupyter's config loader
c.ServerProxy.host_allowlist = allowed_host
