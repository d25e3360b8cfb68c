"""Alembic environment: migrates the connection ``assay.db.upgrade`` passes in.

There is no ``alembic.ini`` and no URL here: the caller owns the engine and the
transaction (``config.attributes["connection"]``). The version table is
``assay_alembic_version`` so that Assay may share a PostgreSQL database with
JupyterHub, whose own Alembic table is ``alembic_version``.
"""

from __future__ import annotations

from alembic import context

from assay.db.models import Base

VERSION_TABLE = "assay_alembic_version"


def run_migrations() -> None:
    connection = context.config.attributes.get("connection")
    if connection is None:
        raise RuntimeError("Assay migrations run only through assay.db.upgrade(engine)")
    context.configure(
        connection=connection,
        target_metadata=Base.metadata,
        version_table=VERSION_TABLE,
        render_as_batch=connection.dialect.name == "sqlite",
    )
    with context.begin_transaction():
        context.run_migrations()


run_migrations()
