"""Live reload of the admin YAML: edits apply, invalid edits are logged and ignored."""

from __future__ import annotations

import copy
import logging
import os
from pathlib import Path
from typing import Any

import pytest
import yaml

from assay.config import ConfigSource
from assay.errors import ConfigError


def edit(path: Path, content: str | dict[str, Any]) -> None:
    """Rewrite the file as an admin would, a moment later (a distinct modification time)."""
    before = path.stat().st_mtime_ns
    text = content if isinstance(content, str) else yaml.safe_dump(content, sort_keys=False)
    path.write_text(text, encoding="utf-8")
    later = before + 1_000_000_000
    os.utime(path, ns=(later, later))


@pytest.fixture
def config_file(write_tmp_config, demo_config_data) -> Path:
    return write_tmp_config(demo_config_data)


def renamed(data: dict[str, Any], name: str) -> dict[str, Any]:
    data = copy.deepcopy(data)
    data["profiles"][0]["display_name"] = name
    return data


def test_edit_applies_on_next_call(config_file, demo_config_data):
    source = ConfigSource(config_file)
    assert source.current().profile("cpu-small").display_name == "CPU small"
    edit(config_file, renamed(demo_config_data, "Small CPU"))
    assert source.current().profile("cpu-small").display_name == "Small CPU"


def test_unchanged_file_is_not_reread(config_file):
    source = ConfigSource(config_file)
    first = source.current()
    assert source.current() is first


def test_profile_added_and_removed_without_restart(config_file, demo_config_data):
    source = ConfigSource(config_file)
    data = copy.deepcopy(demo_config_data)
    data["profiles"].append({"slug": "tiny", "display_name": "Tiny", "cpu": {"limit": 0.25},
                             "memory": {"limit": "256M"}})
    edit(config_file, data)
    assert [p.slug for p in source.current().profiles][-1] == "tiny"
    data["profiles"] = data["profiles"][:2]
    edit(config_file, data)
    assert [p.slug for p in source.current().profiles] == ["cpu-small", "cpu-large"]


def test_invalid_edit_keeps_last_good_and_logs_every_error(
        config_file, demo_config_data, caplog):
    source = ConfigSource(config_file)
    good = source.current()
    bad = copy.deepcopy(demo_config_data)
    bad["profiles"][2]["gpus"] = -1
    bad["profiles"][4]["zone"] = "dmz"
    bad["mode"] = "cloud"
    edit(config_file, bad)
    with caplog.at_level(logging.INFO, logger="assay.config"):
        assert source.current() is good
    errors = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert len(errors) == 1
    message = errors[0].getMessage()
    assert str(config_file.resolve()) in message
    assert "keeping the last good config" in message
    for line in ("mode: must be one of 'local' or 'kubernetes', got 'cloud'",
                 "profiles[2].gpus: must be >= 0, got -1",
                 "profiles[4].zone: must be one of 'standard' or 'secure', got 'dmz'"):
        assert line in message.splitlines()

    # asking again does not re-read (nor re-log) the same broken file
    caplog.clear()
    with caplog.at_level(logging.INFO, logger="assay.config"):
        assert source.current() is good
    assert caplog.records == []


def test_valid_edit_after_invalid_one_applies(config_file, demo_config_data, caplog):
    source = ConfigSource(config_file)
    edit(config_file, "profiles: [\n")
    with caplog.at_level(logging.INFO, logger="assay.config"):
        assert source.current().profile("cpu-small").display_name == "CPU small"
    assert "(yaml): not valid YAML at line 2, column 1" in caplog.text
    caplog.clear()
    edit(config_file, renamed(demo_config_data, "Fixed"))
    with caplog.at_level(logging.INFO, logger="assay.config"):
        assert source.current().profile("cpu-small").display_name == "Fixed"
    assert f"Reloaded {config_file.resolve()} (5 profiles)" in caplog.text


def test_reverting_the_bad_edit_applies_again(config_file, demo_config_data):
    source = ConfigSource(config_file)
    edit(config_file, renamed(demo_config_data, "First"))
    assert source.current().profile("cpu-small").display_name == "First"
    edit(config_file, "mode: cloud\n")
    assert source.current().profile("cpu-small").display_name == "First"
    edit(config_file, renamed(demo_config_data, "Second"))
    assert source.current().profile("cpu-small").display_name == "Second"


def test_deleted_file_keeps_last_good(config_file, caplog):
    source = ConfigSource(config_file)
    good = source.current()
    config_file.unlink()
    with caplog.at_level(logging.ERROR, logger="assay.config"):
        assert source.current() is good
    assert "(file): cannot read: No such file or directory" in caplog.text


def test_first_load_of_invalid_file_raises(write_tmp_config, demo_config_data):
    bad = copy.deepcopy(demo_config_data)
    bad["profiles"][2]["gpus"] = -1
    bad["hub"]["port"] = 0
    path = write_tmp_config(bad)
    with pytest.raises(ConfigError) as caught:
        ConfigSource(path)
    assert caught.value.errors == ["hub.port: must be >= 1, got 0",
                                   "profiles[2].gpus: must be >= 0, got -1"]


def test_first_load_of_missing_file_raises(tmp_path):
    with pytest.raises(ConfigError) as caught:
        ConfigSource(tmp_path / "absent.yaml")
    assert caught.value.errors == ["(file): cannot read: No such file or directory"]


def test_shared_source_is_one_per_file(config_file, write_tmp_config, demo_config_data):
    relative = os.path.relpath(config_file)
    assert ConfigSource.shared(config_file) is ConfigSource.shared(relative)
    other = write_tmp_config(demo_config_data, name="other.yaml")
    assert ConfigSource.shared(other) is not ConfigSource.shared(config_file)
