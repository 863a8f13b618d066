"""Where leaksentry keeps state: one folder, `LEAKSENTRY_DATA_DIR` or the user's data folder."""

from __future__ import annotations

import os
from pathlib import Path

import platformdirs

DATA_DIR_ENV = "LEAKSENTRY_DATA_DIR"


def data_dir() -> Path:
    """The data folder (created on first use): embedded Redis, evidence, caches."""
    folder = Path(os.environ.get(DATA_DIR_ENV) or platformdirs.user_data_dir("leaksentry"))
    folder.mkdir(parents=True, exist_ok=True)
    return folder
