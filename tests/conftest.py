"""Shared test setup: real hubs come from the ``hubfixtures`` plugin (tests/support)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

import assay

pytest_plugins = ["hubfixtures", "dbfixtures"]

# -- small config fixtures (tests/config, tests/cli, test_hub_settings) ----------------

SHIPPED_CONFIG = Path(assay.__file__).resolve().parent / "assay.yaml"


@pytest.fixture
def demo_yaml_text() -> str:
    """The text of the shipped ``assay.yaml`` (five demo profiles)."""
    return SHIPPED_CONFIG.read_text(encoding="utf-8")


@pytest.fixture
def demo_config_data(demo_yaml_text: str) -> dict[str, Any]:
    """The shipped ``assay.yaml`` as a fresh dict, to edit in a test."""
    return yaml.safe_load(demo_yaml_text)


@pytest.fixture
def write_tmp_config(tmp_path: Path) -> Callable[..., Path]:
    """``write_tmp_config(text_or_dict, name="assay.yaml")`` writes a config under tmp_path."""

    def write(content: str | dict[str, Any], name: str = "assay.yaml") -> Path:
        path = tmp_path / name
        text = content if isinstance(content, str) else yaml.safe_dump(content, sort_keys=False)
        path.write_text(text, encoding="utf-8")
        return path

    return write
