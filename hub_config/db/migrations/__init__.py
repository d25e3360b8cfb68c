"""Alembic migrations of Assay's database; run them with ``assay.db.upgrade(engine)``."""
