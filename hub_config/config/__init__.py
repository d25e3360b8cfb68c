"""The admin config: schema, loading with readable errors, and live reload."""

from .load import default_path, load, parse
from .schema import AssayConfig, Profile, memory_bytes
from .source import ConfigSource

__all__ = [
    "AssayConfig", "ConfigSource", "Profile", "default_path", "load", "memory_bytes", "parse",
]
