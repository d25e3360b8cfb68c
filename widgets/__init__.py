"""Notebook widgets of Assay (``assay.widgets``)."""
