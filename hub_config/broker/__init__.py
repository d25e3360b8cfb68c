"""The data broker: a hub-managed service at ``/services/assay/``.

It alone holds storage credentials. Every read is decided here (``policy``), audited
before any byte flows (``audit``), then streamed from the object store (``storage``).
Identity comes only from the hub: a hub API token, or a per-session credential that
the spawner minted for one server (``sessions``).
"""
