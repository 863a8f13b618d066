"""One configured time zone for the chat and the console, always shown with its offset."""

from __future__ import annotations

import shutil
from datetime import date
from pathlib import Path

import pytest
import yaml

from bot.templates import MESSAGES_FILE, load_templates
from detectors.config import DEFAULT_CONFIG_DIR, ConfigError

NEW_YEAR_UTC = 1767225600.0  # 2026-01-01 00:00:00 UTC


def config_with_zone(tmp_path: Path, zone: str) -> Path:
    folder = tmp_path / "config"
    shutil.copytree(DEFAULT_CONFIG_DIR, folder)
    data = yaml.safe_load((folder / MESSAGES_FILE).read_text(encoding="utf-8"))
    data["time_zone"] = zone
    (folder / MESSAGES_FILE).write_text(yaml.safe_dump(data, allow_unicode=True), "utf-8")
    return folder


def test_times_are_in_shanghai_by_default_and_say_so() -> None:
    clock = load_templates()
    assert clock.time(NEW_YEAR_UTC) == "2026-01-01 08:00:00 UTC+8"
    assert clock.day_start(date(2026, 1, 1)) == NEW_YEAR_UTC - 8 * 3600


@pytest.mark.parametrize(
    ("zone", "shown"),
    [
        ("UTC", "2026-01-01 00:00:00 UTC"),
        ("Asia/Kolkata", "2026-01-01 05:30:00 UTC+5:30"),
        ("America/New_York", "2025-12-31 19:00:00 UTC-5"),
    ],
)
def test_another_zone_is_configurable(tmp_path: Path, zone: str, shown: str) -> None:
    assert load_templates(config_with_zone(tmp_path, zone)).time(NEW_YEAR_UTC) == shown


def test_an_unknown_zone_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="time_zone"):
        load_templates(config_with_zone(tmp_path, "Asia/Atlantis"))
