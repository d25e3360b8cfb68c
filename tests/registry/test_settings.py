"""The optional ``models:`` section of ``assay.yaml``: defaults, strictness, readable errors."""

from __future__ import annotations

import pytest
import yaml

from assay.config import parse
from assay.errors import ConfigError
from hubfixtures import DEMO_YAML


def with_models(section: object) -> str:
    data = yaml.safe_load(DEMO_YAML.read_text())
    data["models"] = section
    return yaml.safe_dump(data, sort_keys=False)


def test_defaults_keep_existing_files_valid():
    models = parse(DEMO_YAML.read_text()).models
    assert models.protected_aliases == ["production"]
    assert (models.max_file_bytes, models.max_version_bytes) == (2 << 30, 8 << 30)
    assert models.class_zones == {"restricted": "secure"}


def test_a_models_section():
    models = parse(with_models({"protected_aliases": ["production", "champion"],
                                "max_file_size": "512M",
                                "class_zones": {"confidential": "secure"}})).models
    assert models.max_file_bytes == 512 << 20 and "champion" in models.protected_aliases


@pytest.mark.parametrize(("section", "words"), [
    ({"max_file_size": "2GB"}, "models.max_file_size"),
    ({"max_file_size": "0G"}, "models.max_file_size"),
    ({"protected_aliases": ["Prod"]}, "models.protected_aliases"),
    ({"class_zones": {"secret": "secure"}}, "models.class_zones"),
    ({"class_zones": {"restricted": "moon"}}, "models.class_zones"),
    ({"approvers": 2}, "models.approvers"),
])
def test_bad_sections_name_the_path(section, words):
    with pytest.raises(ConfigError) as caught:
        parse(with_models(section))
    assert any(words in e for e in caught.value.errors), caught.value.errors
