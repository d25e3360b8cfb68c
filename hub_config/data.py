"""``assay.data``: the notebook API for Assay data (defined in ``assay.kernels.data``)."""

from .kernels.data import (
    AssayDataError,
    DataAccessDenied,
    DataFile,
    DataNotFound,
    datasets,
    files,
    lineage,
    open,
    read_csv,
    read_parquet,
)

__all__ = [
    "AssayDataError", "DataAccessDenied", "DataFile", "DataNotFound", "datasets", "files",
    "lineage", "open", "read_csv", "read_parquet",
]
