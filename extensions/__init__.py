"""Single-user server extensions of Assay (``assay.extensions``)."""
