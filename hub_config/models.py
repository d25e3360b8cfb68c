"""``assay.models``: the notebook API of the model registry (defined in
``assay.kernels.models``)."""

from .kernels.models import (
    InvalidModelInput,
    ModelAccessDenied,
    ModelConflict,
    ModelError,
    ModelFormatError,
    ModelFormatWarning,
    ModelIntegrityError,
    ModelNotFound,
    ModelServiceError,
    ModelTooLarge,
    ModelVersion,
    approve,
    get,
    list,
    load,
    register,
    remove_alias,
    set_alias,
)

__all__ = [
    "InvalidModelInput", "ModelAccessDenied", "ModelConflict", "ModelError",
    "ModelFormatError", "ModelFormatWarning", "ModelIntegrityError", "ModelNotFound",
    "ModelServiceError", "ModelTooLarge", "ModelVersion", "approve", "get", "list", "load",
    "register", "remove_alias", "set_alias",
]
